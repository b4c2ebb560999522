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

/** Monaco's JSON tokenizer (it ships without a declaration): the one its JSON mode uses, without the JSON worker. */
declare module "monaco-editor/languages/features/json/tokenization" {
  import type { languages } from "monaco-editor/editor/editor.api";
  export function createTokenizationSupport(supportComments: boolean): languages.TokensProvider;
}
