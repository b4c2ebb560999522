// Modules Vite provides to the page.

/** The saved guest state and BIOS images, served under content-hashed URLs by web/guest-assets.ts. */
declare module "virtual:drydock-guest" {
  interface GuestFile {
    url: string;
    size: number;
    sha256: string;
  }
  const guest: {
    state: GuestFile;
    bios: GuestFile;
    vgaBios: GuestFile;
    memoryMiB: number;
    rawStateSize: number;
  };
  export default guest;
}
