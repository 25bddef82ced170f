import { findNodeAtLocation, getNodeValue, parseTree, printParseErrorCode, type Node, type ParseError } from 'jsonc-parser';

/** A JSON path inside one mapping file. */
export type JsonPath = (string | number)[];

interface Problem {
  readonly path: JsonPath;
  readonly message: string;
  readonly fix: string | undefined;
  readonly atKey: boolean;
}

/**
 * Problems found in one mapping file, each located by JSON path and line (the same
 * way config errors are: `file: mappings[1].request.method (line 7): ...`).
 */
export class Problems {
  private readonly list: Problem[] = [];
  private tree: Node | undefined;
  private readonly lineStarts: number[] = [0];

  constructor(
    readonly file: string,
    private readonly text: string,
  ) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.lineStarts.push(i + 1);
  }

  /** Parses the file; a syntax error is recorded and undefined returned. */
  parse(): unknown {
    const errors: ParseError[] = [];
    // Strict JSON as WireMock reads it, except that comments and trailing commas are tolerated.
    this.tree = parseTree(this.text, errors, { allowTrailingComma: true, disallowComments: false });
    if (errors.length > 0 || this.tree === undefined) {
      const first = errors[0];
      const line = this.lineOf(first?.offset ?? 0);
      const what =
        first === undefined
          ? 'the file is empty'
          : printParseErrorCode(first.error)
              .replace(/([a-z])([A-Z])/g, '$1 $2')
              .toLowerCase();
      this.list.push({
        path: [],
        message: `invalid JSON at line ${line}: ${what}.`,
        fix: 'Fix the JSON (a missing comma or quote is the usual cause).',
        atKey: false,
      });
      return undefined;
    }
    return getNodeValue(this.tree);
  }

  add(path: JsonPath, message: string, fix?: string, atKey = false): void {
    this.list.push({ path: [...path], message, fix, atKey });
  }

  get count(): number {
    return this.list.length;
  }

  /** One line per problem, for the log and for errors. */
  format(): string {
    return this.list
      .map((problem) => {
        const line = this.lineFor(problem);
        const where = problem.path.length === 0 ? '' : ` ${formatJsonPath(problem.path)}`;
        return `${this.file}${where}${line === undefined ? '' : ` (line ${line})`}: ${problem.message}${problem.fix ? ` Fix: ${problem.fix}` : ''}`;
      })
      .join('\n');
  }

  private lineFor(problem: Problem): number | undefined {
    if (this.tree === undefined) return undefined;
    for (let length = problem.path.length; length >= 0; length--) {
      const node = findNodeAtLocation(this.tree, problem.path.slice(0, length));
      if (node === undefined) continue;
      const keyNode = node.parent?.type === 'property' ? node.parent.children?.[0] : undefined;
      return this.lineOf((problem.atKey && keyNode ? keyNode : node).offset);
    }
    return undefined;
  }

  private lineOf(offset: number): number {
    let low = 0;
    let high = this.lineStarts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (this.lineStarts[mid]! <= offset) low = mid;
      else high = mid - 1;
    }
    return low + 1;
  }
}

export function formatJsonPath(path: JsonPath): string {
  return path
    .map((part, index) =>
      typeof part === 'number' ? `[${part}]` : /^[A-Za-z_$][\w$]*$/.test(part) ? (index === 0 ? part : `.${part}`) : `[${JSON.stringify(part)}]`,
    )
    .join('');
}
