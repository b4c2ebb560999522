// Go's text/tabwriter as docker's formatter uses it (minwidth 10, tabwidth 1, padding 3, padchar ' ', no flags):
// tab-terminated cells align in column blocks; the text after a line's last tab is not part of any column.

export interface TabwriterOptions {
  minWidth: number;
  padding: number;
}

/** The settings of docker's table output (`docker ps`, `docker images`). */
export const DOCKER_TABLE: TabwriterOptions = { minWidth: 10, padding: 3 };

type Line = string[];

function width(text: string): number {
  return [...text].length;
}

/**
 * Aligns tab-separated text the way Go's tabwriter does; lines without a tab pass through and split column blocks.
 * @example
 * tabwrite("ID\tNAME\nabc\tweb\n");
 * // "ID         NAME\nabc        web\n"
 */
export function tabwrite(text: string, options: TabwriterOptions = DOCKER_TABLE): string {
  const lines: Line[] = text.split("\n").map((line) => line.split("\t"));
  let out = "";
  const widths: number[] = [];

  const writeLines = (from: number, to: number) => {
    for (let index = from; index < to; index++) {
      const cells = lines[index]!;
      cells.forEach((cell, column) => {
        out += cell;
        if (column < widths.length && column < cells.length - 1) out += " ".repeat(widths[column]! - width(cell));
      });
      if (index + 1 < lines.length) out += "\n";
    }
  };

  const format = (start: number, end: number) => {
    let line0 = start;
    const column = widths.length;
    for (let current = line0; current < end; current++) {
      if (column >= lines[current]!.length - 1) continue;
      writeLines(line0, current);
      line0 = current;
      let cellWidth = options.minWidth;
      for (; current < end; current++) {
        const cells = lines[current]!;
        if (column >= cells.length - 1) break;
        cellWidth = Math.max(cellWidth, width(cells[column]!) + options.padding);
      }
      widths.push(cellWidth);
      format(line0, current);
      widths.pop();
      // `current` is the first line past the block: it has no cell in this column, so the increment may skip it.
      line0 = current;
    }
    writeLines(line0, end);
  };

  format(0, lines.length);
  return out;
}
