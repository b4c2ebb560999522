// Monaco for the file pane, kept small: the core editor, a handful of its features, the basic (Monarch) tokenizers of
// the languages a guest's files are written in, a worker-free JSON tokenizer, and only the base editor worker (no
// language-service workers). files.ts imports this module lazily, after the prompt or when the pane is first used.
import * as monaco from "monaco-editor/editor/editor.api";
import EditorWorker from "monaco-editor/editor/editor.worker?worker";
import "monaco-editor/features/codicon/register";
import "monaco-editor/features/bracketMatching/register";
import "monaco-editor/features/clipboard/register";
import "monaco-editor/features/comment/register";
import "monaco-editor/features/cursorUndo/register";
import "monaco-editor/features/find/register";
import "monaco-editor/features/folding/register";
import "monaco-editor/features/linesOperations/register";
import "monaco-editor/features/multicursor/register";
import "monaco-editor/features/placeholderText/register";
import "monaco-editor/features/toggleTabFocusMode/register";
import "monaco-editor/features/wordOperations/register";
import "monaco-editor/languages/definitions/dockerfile/register";
import "monaco-editor/languages/definitions/shell/register";
import "monaco-editor/languages/definitions/yaml/register";
import { createTokenizationSupport } from "monaco-editor/languages/features/json/tokenization";
import { cssVariable } from "./format.ts";

globalThis.MonacoEnvironment = { getWorker: () => new EditorWorker() };

monaco.languages.register({ id: "json", extensions: [".json"], aliases: ["JSON"] });
monaco.languages.setTokensProvider("json", createTokenizationSupport(true));
monaco.languages.setLanguageConfiguration("json", {
  comments: { lineComment: "//", blockComment: ["/*", "*/"] },
  brackets: [
    ["{", "}"],
    ["[", "]"],
  ],
  autoClosingPairs: [
    { open: "{", close: "}", notIn: ["string"] },
    { open: "[", close: "]", notIn: ["string"] },
    { open: '"', close: '"', notIn: ["string"] },
  ],
});

export type Language = "shell" | "dockerfile" | "json" | "yaml" | "plaintext";

/** The language of a guest file, from its name. */
export function languageFor(path: string): Language {
  const name = path.slice(path.lastIndexOf("/") + 1).toLowerCase();
  if (name === "dockerfile" || name === "containerfile" || name.endsWith(".dockerfile")) return "dockerfile";
  if (/\.(json|jsonc)$/.test(name)) return "json";
  if (/\.ya?ml$/.test(name)) return "yaml";
  if (/\.(sh|bash|ash)$/.test(name) || /^\.?(profile|bashrc|ashrc|bash_profile)$/.test(name)) return "shell";
  return "plaintext";
}

function isDark(): boolean {
  const chosen = document.documentElement.dataset.theme;
  return chosen ? chosen === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
}

/** Monaco's light or dark theme, with the page's own colours (style.css) for the surfaces. */
function applyPageTheme(): void {
  monaco.editor.defineTheme("drydock", {
    base: isDark() ? "vs-dark" : "vs",
    inherit: true,
    rules: [],
    colors: {
      "editor.background": cssVariable("--term-bg"),
      "editor.foreground": cssVariable("--term-fg"),
      "editorCursor.foreground": cssVariable("--term-cursor"),
      "editor.selectionBackground": cssVariable("--term-selection"),
      "editorLineNumber.foreground": cssVariable("--muted"),
      "editorGutter.background": cssVariable("--term-bg"),
      focusBorder: cssVariable("--accent"),
    },
  });
  monaco.editor.setTheme("drydock");
}

export interface FileEditor {
  getValue(): string;
  /** Shows `text` as the contents of `path`, highlighted for the path's language. */
  open(path: string, text: string): void;
  /** Follows the page's theme (call after it changes). */
  applyTheme(): void;
  focus(): void;
}

export function createEditor(container: HTMLElement, path: string, text: string): FileEditor {
  applyPageTheme();
  const editor = monaco.editor.create(container, {
    value: text,
    language: languageFor(path),
    theme: "drydock",
    ariaLabel: "File contents",
    placeholder: "Open a file, or type here and Save",
    fontFamily: cssVariable("--mono"),
    fontSize: 14,
    automaticLayout: true,
    minimap: { enabled: false },
    scrollBeyondLastLine: false,
    lineNumbersMinChars: 3,
    renderLineHighlight: "line",
    tabSize: 4,
    insertSpaces: false,
  });
  return {
    getValue: () => editor.getValue(),
    open(newPath, newText) {
      const model = editor.getModel();
      if (!model) return;
      monaco.editor.setModelLanguage(model, languageFor(newPath));
      editor.setValue(newText);
      editor.setScrollTop(0);
    },
    applyTheme: applyPageTheme,
    focus: () => editor.focus(),
  };
}
