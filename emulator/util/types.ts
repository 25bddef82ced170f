/** `T` with its `readonly` properties writable: for an object filled in step by step before it is handed out. */
export type Mutable<T> = { -readonly [K in keyof T]: T[K] };
