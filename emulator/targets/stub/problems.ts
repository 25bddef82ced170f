import { formatJsonPath, JsoncSource, type JsonPath } from '../../util/jsonc.js';

export type { JsonPath };

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
  private readonly source: JsoncSource;

  constructor(
    readonly file: string,
    text: string,
  ) {
    this.source = new JsoncSource(text);
  }

  /** Parses the file; a syntax error is recorded and undefined returned. */
  parse(): unknown {
    // Strict JSON as WireMock reads it, except that comments and trailing commas are tolerated.
    const { value, error } = this.source.parse();
    if (error !== undefined) {
      this.list.push({
        path: [],
        message: `invalid JSON at line ${error.line}: ${error.what ?? 'the file is empty'}.`,
        fix: 'Fix the JSON (a missing comma or quote is the usual cause).',
        atKey: false,
      });
      return undefined;
    }
    return value;
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
        const node = this.source.nodeFor(problem.path, problem.atKey);
        const line = node && this.source.position(node.offset).line;
        const where = problem.path.length === 0 ? '' : ` ${formatJsonPath(problem.path)}`;
        return `${this.file}${where}${line === undefined ? '' : ` (line ${line})`}: ${problem.message}${problem.fix ? ` Fix: ${problem.fix}` : ''}`;
      })
      .join('\n');
  }
}
