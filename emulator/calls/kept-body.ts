/**
 * A request body kept while it is sent, so that another try can send it again: the
 * client's chunks by reference, no copies. Past `limit` bytes (the retry rule's
 * `keepBodyBytes`) nothing is kept and the body only streams.
 */
export class KeptBody {
  private kept: Buffer[] | undefined = [];
  private bytes = 0;

  /** `declaredLength`: Content-Length, when the request has one (a larger one is never kept). */
  constructor(
    private readonly limit: number,
    declaredLength?: number,
  ) {
    if (limit <= 0 || (declaredLength !== undefined && declaredLength > limit)) this.kept = undefined;
  }

  readonly add = (chunk: Buffer): void => {
    if (this.kept === undefined) return;
    this.bytes += chunk.length;
    if (this.bytes > this.limit) this.kept = undefined;
    else this.kept.push(chunk);
  };

  /** The chunks so far, or undefined once the body has grown past the limit. */
  get chunks(): readonly Buffer[] | undefined {
    return this.kept;
  }
}
