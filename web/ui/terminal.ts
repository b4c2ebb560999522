// The terminal: xterm.js fit to its pane, read by screen readers, with copy and paste on Ctrl+Shift+C / V and the
// WebGL renderer when the browser can give it a context (loaded after the prompt, so it never delays it).
import { FitAddon } from "@xterm/addon-fit";
import { type ITheme, Terminal } from "@xterm/xterm";
import "@xterm/xterm/css/xterm.css";
import { cssVariable, yieldToPage } from "./format.ts";

function themeFromCss(): ITheme {
  return {
    background: cssVariable("--term-bg"),
    foreground: cssVariable("--term-fg"),
    cursor: cssVariable("--term-cursor"),
    cursorAccent: cssVariable("--term-bg"),
    selectionBackground: cssVariable("--term-selection"),
  };
}

export interface PageTerminal {
  terminal: Terminal;
  /** Fits the terminal to its pane now (it also refits when the pane changes size). */
  fit(): void;
  /** Re-reads the colours after a theme change. */
  applyTheme(): void;
  /** Switches to the WebGL renderer; says which renderer is in use. */
  enableWebgl(): Promise<"webgl" | "dom">;
}

/**
 * The terminal in `container`, built over three main-thread tasks (xterm's constructor, its DOM and renderer, the fit
 * to the pane's size), so none of them is a long task on a busy start-up. Ctrl+M switches Tab between the shell
 * (completion, the default) and the page (focus moves on, as everywhere else), as Monaco's Ctrl+M does; `announce`
 * tells a screen reader which it is now.
 */
export async function createTerminal(container: HTMLElement, announce: (text: string) => void): Promise<PageTerminal> {
  const terminal = new Terminal({
    fontFamily: cssVariable("--mono"),
    fontSize: 15,
    lineHeight: 1.15,
    cursorBlink: true,
    scrollback: 5000,
    screenReaderMode: true,
    theme: themeFromCss(),
  });
  let tabMovesFocus = false;
  terminal.attachCustomKeyEventHandler((event) => {
    if (event.key === "Tab" && tabMovesFocus && !event.ctrlKey && !event.altKey && !event.metaKey) return false;
    if (event.type === "keydown" && event.code === "KeyM" && event.ctrlKey && !event.shiftKey && !event.altKey) {
      tabMovesFocus = !tabMovesFocus;
      container.dataset.tabMovesFocus = String(tabMovesFocus);
      announce(
        tabMovesFocus
          ? "Tab now moves focus out of the terminal. Ctrl+M gives Tab back to the shell."
          : "Tab now goes to the shell. Ctrl+M lets Tab leave the terminal.",
      );
      event.preventDefault();
      return false;
    }
    if (event.type !== "keydown" || !event.ctrlKey || !event.shiftKey) return true;
    if (event.code === "KeyC") {
      const selection = terminal.getSelection();
      if (selection) void navigator.clipboard?.writeText(selection).catch(() => {});
      event.preventDefault();
      return false;
    }
    // Ctrl+Shift+V: let the browser paste into xterm's textarea, which xterm turns into input.
    return event.code !== "KeyV";
  });
  const fitAddon = new FitAddon();
  terminal.loadAddon(fitAddon);
  await yieldToPage();
  terminal.open(container);
  await yieldToPage();
  const fitToPane = () => {
    try {
      fitAddon.fit();
    } catch {
      // Not laid out yet (display: none): the next resize fits it.
    }
  };
  fitToPane();
  // Refit when the pane's size really changes (the observer also reports the size it starts with: skip that).
  let frame = 0;
  let size = `${container.clientWidth}x${container.clientHeight}`;
  new ResizeObserver(() => {
    const now = `${container.clientWidth}x${container.clientHeight}`;
    if (now === size) return;
    size = now;
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(fitToPane);
  }).observe(container);
  return {
    terminal,
    fit: fitToPane,
    applyTheme: () => {
      terminal.options.theme = themeFromCss();
    },
    async enableWebgl() {
      try {
        const { WebglAddon } = await import("@xterm/addon-webgl");
        const webgl = new WebglAddon();
        webgl.onContextLoss(() => webgl.dispose());
        terminal.loadAddon(webgl);
        return "webgl";
      } catch {
        return "dom";
      }
    },
  };
}
