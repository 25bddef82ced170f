import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { compileFile, type Mapping, type StubRequest } from './mapping.js';
import { Problems } from './problems.js';

/**
 * The mappings of one stub directory (`mappings/**\/*.json`), file by file, so that a
 * broken edit of one file keeps that file's previous mappings and leaves the others
 * alone. Matching follows WireMock: the lowest `priority` number wins; among equal
 * priorities the mapping that comes later wins (files in path order, then position
 * in the file: WireMock's "most recently added" for files loaded in that order).
 */
export class MappingStore {
  private readonly files = new Map<string, Mapping[]>();
  /** Mappings in the order they are tried. */
  private ordered: Mapping[] = [];
  /** Scenario states (WireMock scenarios: every scenario starts in "Started"). */
  private readonly scenarios = new Map<string, string>();

  constructor(readonly dir: string) {}

  get mappingsDir(): string {
    return path.join(this.dir, 'mappings');
  }

  get filesDir(): string {
    return path.join(this.dir, '__files');
  }

  /** Loads every file; returns the problems of those that failed (none loaded from them). */
  loadAll(): Problems[] {
    const failed: Problems[] = [];
    this.files.clear();
    for (const file of listJsonFiles(this.mappingsDir)) {
      const problems = this.loadFile(file);
      if (problems !== undefined) failed.push(problems);
    }
    this.reorder();
    return failed;
  }

  /**
   * (Re)loads one file, given relative to `mappings/`. A file that fails keeps its
   * previous mappings; a file that is gone drops them. Returns the problems, if any.
   */
  reload(relative: string): { problems: Problems | undefined; count: number; removed: boolean } {
    const absolute = path.join(this.mappingsDir, relative);
    if (!existsSync(absolute)) {
      const removed = this.files.delete(relative);
      this.reorder();
      return { problems: undefined, count: 0, removed };
    }
    const problems = this.loadFile(relative);
    this.reorder();
    return { problems, count: this.files.get(relative)?.length ?? 0, removed: false };
  }

  all(): readonly Mapping[] {
    return this.ordered;
  }

  /** The mapping that answers `request`, or undefined. */
  find(request: StubRequest): Mapping | undefined {
    for (const mapping of this.ordered) {
      if (!this.scenarioAllows(mapping)) continue;
      if (mapping.match(request).ok) return mapping;
    }
    return undefined;
  }

  /** After a mapping answered: move its scenario on. */
  served(mapping: Mapping): void {
    if (mapping.scenario?.next !== undefined) this.scenarios.set(mapping.scenario.name, mapping.scenario.next);
  }

  /** The closest mappings to a request that matched none, nearest first (WireMock's near misses). */
  nearMisses(request: StubRequest, count = 3): { mapping: Mapping; distance: number; differences: string[] }[] {
    return this.ordered
      .map((mapping) => {
        const result = mapping.match(request);
        const differences = [...result.differences];
        if (!this.scenarioAllows(mapping))
          differences.push(
            `scenario "${mapping.scenario!.name}" is in state "${this.scenarioState(mapping.scenario!.name)}", the mapping needs "${mapping.scenario!.required}"`,
          );
        return { mapping, distance: result.distance, differences };
      })
      .sort((a, b) => a.distance - b.distance || a.differences.length - b.differences.length)
      .slice(0, count);
  }

  scenarioState(name: string): string {
    return this.scenarios.get(name) ?? 'Started';
  }

  private scenarioAllows(mapping: Mapping): boolean {
    const scenario = mapping.scenario;
    return scenario === undefined || scenario.required === undefined || this.scenarioState(scenario.name) === scenario.required;
  }

  private loadFile(relative: string): Problems | undefined {
    const absolute = path.join(this.mappingsDir, relative);
    let text: string;
    try {
      text = readFileSync(absolute, 'utf8');
    } catch (error) {
      const problems = new Problems(absolute, '');
      problems.add([], `cannot read it: ${(error as Error).message}.`);
      return problems;
    }
    const problems = new Problems(absolute, text);
    const mappings = compileFile(path.join('mappings', relative), problems);
    if (problems.count > 0) return problems;
    this.files.set(relative, mappings);
    return undefined;
  }

  private reorder(): void {
    const sequence: Mapping[] = [];
    for (const file of [...this.files.keys()].sort()) sequence.push(...this.files.get(file)!);
    const position = new Map(sequence.map((mapping, index) => [mapping, index]));
    this.ordered = sequence.sort((a, b) => a.priority - b.priority || position.get(b)! - position.get(a)!);
  }
}

/** `*.json` files under `dir`, recursively, relative to it, in path order. */
function listJsonFiles(dir: string, prefix = ''): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith('.')) continue;
    const relative = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) out.push(...listJsonFiles(path.join(dir, entry.name), relative));
    else if (entry.isFile() && entry.name.endsWith('.json')) out.push(relative);
  }
  return out;
}
