import { applyEdits, findNodeAtLocation, getNodeValue, modify, parseTree, type FormattingOptions, type Node } from 'jsonc-parser';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { INLINE_CONFIG_NAME } from '../config/overrides.js';
import type { EmulatorConfig, ServiceConfig } from '../config/types.js';

/** Whether the config came from a file the dashboard can edit (not an object built in code). */
export function isConfigFile(file: string): boolean {
  return path.basename(file) !== INLINE_CONFIG_NAME && existsSync(file);
}

/** The console's name for the allow-list, shown beside the matrix. */
export const CONSOLE_NAME = '访问控制 → 服务间调用';

export interface AccessMatrix {
  readonly file: string;
  /** Whether a click can change the file (a config built in code has none). */
  readonly editable: boolean;
  readonly consoleName: string;
  readonly services: readonly { readonly name: string; readonly id: string; readonly runtime: string }[];
  /** For each caller, the names of the services it may call. */
  readonly allow: Readonly<Record<string, readonly string[]>>;
}

export function accessMatrix(config: EmulatorConfig): AccessMatrix {
  const services = [...config.services.values()];
  return {
    file: config.file,
    editable: isConfigFile(config.file),
    consoleName: CONSOLE_NAME,
    services: services.map((service) => ({ name: service.name, id: service.id, runtime: service.kind })),
    allow: Object.fromEntries(services.map((service) => [service.name, [...service.allow]])),
  };
}

/**
 * The config text with `to` added to (or removed from) `services.<from>.allow`. Only
 * that array changes: comments, key order and the layout of the rest of the file stay
 * byte for byte. Entries may name the target by name or by id; removing drops both.
 * Returns the text unchanged when there is nothing to do.
 *
 * Array elements are edited by offsets from the parse tree: jsonc-parser's `modify`
 * mangles an array with a comment between elements on removal, and reformats a
 * one-line array on insertion. A missing `allow` key is added with `modify`.
 */
export function editAllow(text: string, from: string, to: Pick<ServiceConfig, 'name' | 'id'>, allow: boolean): string {
  const tree = parseTree(text, [], { allowTrailingComma: true, disallowComments: false });
  if (!tree) throw new Error('the config file is not valid JSON');
  const allowPath = ['services', from, 'allow'];
  const node = findNodeAtLocation(tree, allowPath);
  if (node === undefined || node.type !== 'array') {
    if (!allow) return text;
    return applyEdits(text, modify(text, allowPath, [to.name], { formattingOptions: detectFormatting(text) }));
  }
  const elements = node.children ?? [];
  const matches = (element: Node): boolean => {
    const value: unknown = getNodeValue(element);
    return value === to.name || value === to.id;
  };

  if (allow) {
    if (elements.some(matches)) return text;
    const entry = JSON.stringify(to.name);
    const last = elements.at(-1);
    if (last === undefined) return splice(text, node.offset + 1, node.offset + 1, entry);
    // The separator the array already uses: ", " on one line, or a new line with the same indent.
    const before = elements.length >= 2 ? text.slice(elements.at(-2)!.offset + elements.at(-2)!.length, last.offset) : text.slice(node.offset + 1, last.offset);
    const separator = /\n/.test(before) ? `,${before.slice(before.lastIndexOf('\n') - (before.includes('\r\n') ? 1 : 0))}` : ', ';
    const end = last.offset + last.length;
    return splice(text, end, end, separator + entry);
  }
  const removed = elements.map(matches);
  if (!removed.includes(true)) return text;
  // Ranges in the original text, applied from the last to the first.
  const ranges: [number, number][] = [];
  const lastKept = removed.lastIndexOf(false);
  if (lastKept === -1) {
    ranges.push([elements[0]!.offset, elements.at(-1)!.offset + elements.at(-1)!.length]);
  } else {
    // A removed element before a kept one goes with its comma and what follows up to the next element (a comment on its line goes with it).
    for (let index = 0; index < lastKept; index++) if (removed[index]) ranges.push([elements[index]!.offset, elements[index + 1]!.offset]);
    // Removed elements after the last kept one go with the comma before them.
    if (lastKept < elements.length - 1) {
      const keptEnd = elements[lastKept]!.offset + elements[lastKept]!.length;
      const first = elements[lastKept + 1]!;
      const end = elements.at(-1)!.offset + elements.at(-1)!.length;
      const between = text.slice(keptEnd, first.offset);
      const newline = between.lastIndexOf('\n');
      if (newline === -1) {
        ranges.push([keptEnd, end]);
      } else {
        // One element a line: drop the comma but keep a comment after it, then the removed lines.
        const comma = text.indexOf(',', keptEnd);
        ranges.push([comma, comma + 1]);
        const lineEnd = keptEnd + newline - (between[newline - 1] === '\r' ? 1 : 0);
        ranges.push([lineEnd, end]);
      }
    }
  }
  return ranges.reduceRight((result, [start, end]) => splice(result, start, end, ''), text);
}

function splice(text: string, start: number, end: number, insert: string): string {
  return text.slice(0, start) + insert + text.slice(end);
}

/** The file's own indentation and line ends, so inserted text looks like the rest. */
function detectFormatting(text: string): FormattingOptions {
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const indent = /^([ \t]+)\S/m.exec(text)?.[1] ?? '  ';
  return indent.startsWith('\t') ? { insertSpaces: false, tabSize: 1, eol } : { insertSpaces: true, tabSize: indent.length, eol };
}
