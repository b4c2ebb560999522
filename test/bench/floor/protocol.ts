// What the floor page and its worker say to each other.

export interface FloorStart {
  state: string;
  bios: string;
  vgaBios: string;
  wasmUrl: string;
  memoryMiB: number;
  timeOrigin: number;
}

export type FloorMessage =
  | { type: "started"; steps: { name: string; start: number; end: number }[] }
  | { type: "output"; text: string };
