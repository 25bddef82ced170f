import { existsSync } from 'node:fs';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import picomatch from 'picomatch';

/** Folders no service wants to reload for: dependencies, VCS, build outputs, caches. */
const IGNORED_DIRS = new Set([
  'node_modules',
  '.git',
  '.hg',
  '.svn',
  'dist',
  'build',
  'out',
  'target',
  'coverage',
  '__pycache__',
  '.venv',
  'venv',
  '.next',
  '.cache',
  '.idea',
  '.vscode',
]);

/**
 * Editors' side files: vim's swap files, backups and its `4913` probe, emacs' locks,
 * JetBrains' safe-write temporaries, and compiled Python. A save touches these too;
 * only the real file should count.
 */
const isSideFile = picomatch(
  ['**/*.sw[a-p]', '**/*~', '**/4913', '**/.#*', '**/#*#', '**/*___jb_tmp___', '**/*___jb_old___', '**/*.pyc', '**/.DS_Store', '**/*.log'],
  {
    dot: true,
  },
);

export interface FileWatchOptions {
  /** The folder to watch, recursively; absent: only `files`. */
  dir?: string;
  /**
   * Globs relative to `dir` (`!glob` excludes). Absent: everything but the built-in
   * ignores. A glob wins over the built-in ignores it names: `build/**` watches `build`.
   */
  globs?: readonly string[];
  /** Also watch these files (e.g. a config file and its env files), wherever they are. */
  files?: readonly string[];
  /** Never report these files (e.g. the config inside a service's folder: it has its own watcher). */
  exclude?: readonly string[];
  /** Poll instead of file-system events (WSL, network mounts, some Docker Desktop mounts). */
  polling: boolean;
  /** Poll interval in ms. */
  interval: number;
  /** Quiet period after the last change before `onChange` fires: a save of 50 files is one change. */
  debounceMs: number;
  /** Changed paths, relative to `dir` (absolute for `files` outside it). */
  onChange(files: string[]): void;
  onError(error: Error): void;
}

export interface FileWatcher {
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Watches a folder (chokidar) and reports debounced batches of changed files. */
export async function watchFiles(options: FileWatchOptions): Promise<FileWatcher> {
  const dir = options.dir;
  const selection = selectFiles(options.globs);
  const exactFiles = new Set((options.files ?? []).map((file) => path.resolve(file)));
  const excluded = new Set((options.exclude ?? []).map((file) => path.resolve(file)));
  /** Path relative to `dir` with "/" separators, or undefined when outside it. */
  const inDir = (file: string): string | undefined => {
    if (dir === undefined) return undefined;
    const rel = path.relative(dir, file);
    return rel.startsWith('..') || path.isAbsolute(rel) ? undefined : rel.split(path.sep).join('/');
  };
  const ignored = (file: string): boolean => {
    if (exactFiles.has(file)) return false;
    if (excluded.has(file)) return true;
    const rel = inDir(file);
    // Outside `dir`: only the single files and the folders that hold them.
    if (rel === undefined) return !isParentOfExact(file);
    if (rel === '') return false;
    return selection.ignored(rel);
  };
  function isParentOfExact(file: string): boolean {
    for (const exact of exactFiles) if (path.dirname(exact) === file) return true;
    return false;
  }

  /** Changed files of the batch: reported name → its absolute path and the first event seen. */
  const changed = new Map<string, { absolute: string; first: string }>();
  /** Temporaries dropped from a batch whose unlink has not been seen yet. */
  const temporaries = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    timer = undefined;
    // A file created and gone within one batch is an editor's or tool's temporary
    // (`sed -i` writes sedXXXXXX and renames it over the file): not a change to name.
    // chokidar holds unlinks back ~100 ms (its `atomic` check), so the temporary's unlink
    // can come in the next batch: that is not a change either.
    const files: string[] = [];
    for (const [file, { absolute, first }] of changed) {
      if (first === 'add' && !existsSync(absolute)) temporaries.add(file);
      else if (first === 'unlink' && temporaries.delete(file)) continue;
      else {
        temporaries.delete(file); // a name used again for a file that stays
        files.push(file);
      }
    }
    changed.clear();
    if (files.length > 0) options.onChange(files);
  };

  // Single files are watched through their folders, so that an editor's rename-over
  // save (a new inode) is still seen.
  const roots = dir !== undefined ? [dir] : [...new Set([...exactFiles].map((file) => path.dirname(file)))];
  const watcher: FSWatcher = watch(roots, {
    ignoreInitial: true,
    usePolling: options.polling,
    interval: options.interval,
    binaryInterval: Math.max(options.interval, 300),
    ignored,
    // Deep enough for any source tree; only the folders themselves for single files.
    depth: dir !== undefined ? 32 : 0,
    followSymlinks: false,
  });
  watcher.on('all', (event, file) => {
    if (event === 'addDir' || event === 'unlinkDir') return;
    const absolute = path.resolve(file);
    const rel = inDir(absolute);
    const name = exactFiles.has(absolute) ? (rel ?? absolute) : rel !== undefined && selection.matches(rel) ? rel : undefined;
    if (name === undefined) return;
    if (!changed.has(name)) changed.set(name, { absolute, first: event });
    clearTimeout(timer);
    timer = setTimeout(flush, options.debounceMs);
  });
  watcher.on('error', (error) => options.onError(error instanceof Error ? error : new Error(String(error))));
  await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));

  let stopping: Promise<void> | undefined;
  const handle: FileWatcher = {
    stop() {
      stopping ??= (async () => {
        clearTimeout(timer);
        await watcher.close();
      })();
      return stopping;
    },
    [Symbol.asyncDispose]: () => handle.stop(),
  };
  return handle;
}

/**
 * Which files of a folder count, for `globs` as in {@link FileWatchOptions}. `ignored`
 * also prunes chokidar's walk (it sees folders too); `matches` decides each event.
 * Built-in ignores give way to a glob that names them: a folder named by one of the
 * glob's literal segments (`build/**`), a side file matched by a glob whose last
 * segment says more than `*` (`logs/*.log`).
 */
function selectFiles(globs: readonly string[] | undefined): { ignored(rel: string): boolean; matches(rel: string): boolean } {
  const include = (globs ?? []).filter((glob) => !glob.startsWith('!'));
  const exclude = (globs ?? []).filter((glob) => glob.startsWith('!')).map((glob) => glob.slice(1));
  // Only exclusions (`["!tmp/**"]`): the default selection minus those.
  const everything = globs === undefined || (include.length === 0 && exclude.length > 0);
  const included = everything ? () => true : include.length === 0 ? () => false : picomatch(include, { dot: true });
  const excluded = exclude.length === 0 ? () => false : picomatch(exclude, { dot: true });
  const namedDirs = new Set(include.flatMap((glob) => glob.split('/')).filter((segment) => IGNORED_DIRS.has(segment)));
  const namingSideFiles = include.filter((glob) => /[^*?.{},!/]/.test((glob.split('/').at(-1) ?? '').replace(/\[[^\]]*\]/g, '')));
  // dot: false, so that `*.js` does not name emacs' `.#server.js` lock.
  const namesSideFile = namingSideFiles.length === 0 ? () => false : picomatch(namingSideFiles, { dot: false });
  const builtIn = (rel: string): boolean =>
    rel.split('/').some((part) => IGNORED_DIRS.has(part) && !namedDirs.has(part)) || (isSideFile(rel) && !namesSideFile(rel));
  return {
    ignored: (rel) => builtIn(rel) || excluded(rel),
    matches: (rel) => included(rel) && !excluded(rel) && !builtIn(rel),
  };
}
