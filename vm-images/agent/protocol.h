/* The agent protocol, version 1: mirrors PROTOCOL.md and engine/agent/protocol.ts. */
#ifndef DRYDOCK_PROTOCOL_H
#define DRYDOCK_PROTOCOL_H

#define PROTOCOL_VERSION 1
#define HEADER_SIZE 12
#define MAX_PAYLOAD 32768
#define STREAM_WINDOW 65536
#define AGENT_STREAM_BIT 0x80000000u

enum msg_type {
	MSG_HELLO = 0x01,
	MSG_SYNC = 0x02,
	MSG_ERROR = 0x03,
	MSG_OK = 0x04,
	MSG_PING = 0x05,
	MSG_PONG = 0x06,
	MSG_ACK = 0x07,
	MSG_SPAWN = 0x10,
	MSG_SPAWNED = 0x11,
	MSG_INPUT = 0x12,
	MSG_STDOUT = 0x13,
	MSG_STDERR = 0x14,
	MSG_CREDIT = 0x15,
	MSG_RESIZE = 0x16,
	MSG_SIGNAL = 0x17,
	MSG_EXIT = 0x18,
	MSG_FS = 0x20,
	MSG_FS_REPLY = 0x21,
	MSG_LISTEN = 0x30,
	MSG_CONNECT = 0x31,
	MSG_CLOSE = 0x32,
};

enum field_tag {
	F_VERSION = 1,
	F_KERNEL = 2,
	F_FEATURE = 3,
	F_BOOT_ID = 4,
	F_TIME = 5,
	F_ENTROPY = 6,
	F_ERRNO = 7,
	F_MESSAGE = 8,
	F_ARG = 16,
	F_ENV = 17,
	F_CWD = 18,
	F_UID = 19,
	F_GID = 20,
	F_PTY = 21,
	F_CLONE = 22,
	F_CGROUP = 23,
	F_ROOT = 24,
	F_MOUNT = 25,
	F_HOSTNAME = 26,
	F_PID = 27,
	F_LOOPBACK = 28,
	F_OP = 32,
	F_PATH = 33,
	F_TARGET = 34,
	F_DATA = 35,
	F_OFFSET = 36,
	F_LENGTH = 37,
	F_MODE = 38,
	F_FLAGS = 39,
	F_FSTYPE = 40,
	F_SIZE = 41,
	F_MTIME = 42,
	F_DIRENT = 43,
	F_MORE = 44,
};

enum fs_op {
	FS_STAT = 1,
	FS_READ = 2,
	FS_WRITE = 3,
	FS_MKDIR = 4,
	FS_READDIR = 5,
	FS_REMOVE = 6,
	FS_MOUNT = 7,
	FS_UMOUNT = 8,
};

enum channel { CH_INPUT = 0, CH_STDOUT = 1, CH_STDERR = 2 };

#endif
