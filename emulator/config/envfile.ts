import { parse } from 'dotenv';

export interface ParsedEnvFile {
  env: Record<string, string>;
  /** Lines that set nothing, with their line numbers: `file:line: …` once the caller adds the file. */
  warnings: { line: number; text: string; message: string }[];
}

/**
 * Parses a dotenv file with dotenv's own rules, so a file that works with `dotenv`
 * (and docker compose's `env_file`, for the common cases) works here: `export `,
 * `#` comments (also after a quoted value), single, double and backtick quotes, values
 * over several lines inside quotes (a PEM key), `\n` in double quotes.
 *
 * dotenv skips what it cannot read without a word; a variable that silently goes
 * missing is worse than a warning, so every line that is neither blank, a comment,
 * an assignment nor inside a quoted value is reported.
 */
export function parseEnvFile(text: string): ParsedEnvFile {
  const normalized = text.replace(/\r\n?/g, '\n');
  const env = parse(normalized);
  const warnings: ParsedEnvFile['warnings'] = [];
  let openQuote: string | undefined;
  let opened = { line: 0, text: '' };
  normalized.split('\n').forEach((line, index) => {
    if (openQuote !== undefined) {
      if (closesQuote(line, openQuote)) openQuote = undefined;
      return;
    }
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    if (Object.keys(parse(line)).length === 0) {
      warnings.push({ line: index + 1, text: trimmed, message: 'is not KEY=value, so it sets nothing' });
      return;
    }
    // A quote opened and not closed on this line: the value goes on over the next lines.
    const start = /^\s*(?:export\s+)?[\w.-]+(?:\s*=\s*|:\s+)(['"`])(.*)$/.exec(line);
    if (start && !closesQuote(start[2]!, start[1]!)) {
      openQuote = start[1];
      opened = { line: index + 1, text: trimmed };
    }
  });
  if (openQuote !== undefined) {
    // dotenv then reads the value as the rest of that one line, opening quote included.
    warnings.push({ ...opened, message: `opens a ${openQuote} quote that is never closed, so the value is this line only` });
  }
  return { env, warnings };
}

/** Whether `text` has an unescaped `quote`. */
function closesQuote(text: string, quote: string): boolean {
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === quote) return true;
  }
  return false;
}
