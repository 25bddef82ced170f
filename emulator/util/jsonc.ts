import { findNodeAtLocation, getNodeValue, parseTree, printParseErrorCode, type Node, type ParseError } from 'jsonc-parser';

/** A path into a JSON document: keys and array indexes. */
export type JsonPath = (string | number)[];

/** Where a text fails to parse. */
export interface JsoncSyntaxError {
  readonly offset: number;
  readonly length: number;
  readonly line: number;
  readonly column: number;
  /** What is wrong, in words ("comma expected"); undefined when the text holds no value at all. */
  readonly what: string | undefined;
}

/**
 * JSON text with comments and trailing commas tolerated (the config, stub mapping files),
 * parsed with positions, so that an error can point at the line and column of a JSON path.
 */
export class JsoncSource {
  private tree: Node | undefined;
  private readonly lineStarts: number[] = [0];

  constructor(readonly text: string) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.lineStarts.push(i + 1);
  }

  /** Parses the text: its value, or where the first syntax error is. */
  parse(): { value: unknown; error?: undefined } | { value?: undefined; error: JsoncSyntaxError } {
    const errors: ParseError[] = [];
    this.tree = parseTree(this.text, errors, { allowTrailingComma: true, disallowComments: false });
    if (errors.length > 0 || this.tree === undefined) {
      const first = errors[0];
      const offset = first?.offset ?? 0;
      const what =
        first === undefined
          ? undefined
          : printParseErrorCode(first.error)
              .replace(/([a-z])([A-Z])/g, '$1 $2')
              .toLowerCase();
      return { error: { offset, length: first?.length ?? 1, ...this.position(offset), what } };
    }
    return { value: getNodeValue(this.tree) };
  }

  /**
   * The node at `path`, or where that does not exist the nearest one above it (a missing
   * key points at its parent object). With `atKey`, the property name of the node at `path`
   * (an unknown key rather than its value). Undefined before a successful parse.
   */
  nodeFor(path: JsonPath, atKey = false): Node | undefined {
    if (this.tree === undefined) return undefined;
    for (let length = path.length; length >= 0; length--) {
      const node = findNodeAtLocation(this.tree, path.slice(0, length));
      if (node === undefined) continue;
      const keyNode = node.parent?.type === 'property' ? node.parent.children?.[0] : undefined;
      return atKey && length === path.length && keyNode ? keyNode : node;
    }
    return undefined;
  }

  /** The line of exactly `path` (of its property, key and value, when it is one). */
  lineOf(path: JsonPath): number | undefined {
    const node = this.tree && findNodeAtLocation(this.tree, path);
    return node === undefined ? undefined : this.position(node.parent?.type === 'property' ? node.parent.offset : node.offset).line;
  }

  /** 1-based line and column of an offset. */
  position(offset: number): { line: number; column: number } {
    let low = 0;
    let high = this.lineStarts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (this.lineStarts[mid]! <= offset) low = mid;
      else high = mid - 1;
    }
    return { line: low + 1, column: offset - this.lineStarts[low]! + 1 };
  }

  /** The line at `offset` with a caret under `length` characters from there, like a compiler. */
  frame(offset: number, length: number, indent = ''): string {
    const { line, column } = this.position(offset);
    const start = this.lineStarts[line - 1]!;
    const end = this.lineStarts[line] ?? this.text.length + 1;
    const lineText = this.text.slice(start, end - 1).replace(/\r$/, '');
    const width = Math.max(1, Math.min(length, lineText.length - column + 1));
    const gutter = String(line).padStart(4);
    return `${indent}${gutter} | ${lineText}\n${indent}${' '.repeat(gutter.length)} | ${' '.repeat(column - 1)}${'^'.repeat(width)}`;
  }
}

/** `services.api.env["X-Y"]`, `mappings[1].request`: a JSON path as it reads in an error. */
export function formatJsonPath(path: JsonPath): string {
  return path
    .map((part, index) =>
      typeof part === 'number' ? `[${part}]` : /^[A-Za-z_$][\w$]*$/.test(part) ? (index === 0 ? part : `.${part}`) : `[${JSON.stringify(part)}]`,
    )
    .join('');
}
