// Finds where a chunked body ends without decoding it: the proxy passes chunked bodies
// on byte for byte and only needs to know where the next message starts (request
// smuggling lives in getting this wrong, so malformed framing is an error, not a guess).

const enum State {
  Size,
  SizeMore,
  Extension,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  Trailer,
  TrailerLf,
  FinalLf,
}

const CR = 13;
const LF = 10;
/** Larger chunks than this are surely garbage (and would lose precision). */
const MAX_CHUNK = 2 ** 48;

function hexValue(byte: number): number {
  if (byte >= 48 && byte <= 57) return byte - 48;
  const lower = byte | 0x20;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}

export class ChunkedScanner {
  private state = State.Size;
  private remaining = 0;

  /** Index in `chunk` just past the end of the body, -1 if the body goes on, or -2 if the framing is broken. */
  scan(chunk: Buffer): number {
    let i = 0;
    while (i < chunk.length) {
      switch (this.state) {
        case State.Data: {
          const take = Math.min(this.remaining, chunk.length - i);
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) this.state = State.DataCr;
          continue;
        }
        case State.Size:
        case State.SizeMore: {
          const digit = hexValue(chunk[i]!);
          if (digit !== -1) {
            this.remaining = this.remaining * 16 + digit;
            if (this.remaining > MAX_CHUNK) return -2;
            this.state = State.SizeMore;
          } else if (this.state === State.Size) return -2;
          else if (chunk[i] === CR) this.state = State.SizeLf;
          else if (chunk[i] === 0x3b /* ; */ || chunk[i] === 0x20 || chunk[i] === 0x09) this.state = State.Extension;
          else return -2;
          break;
        }
        case State.Extension:
          if (chunk[i] === CR) this.state = State.SizeLf;
          else if (chunk[i] === LF || chunk[i] === 0) return -2;
          break;
        case State.SizeLf:
          if (chunk[i] !== LF) return -2;
          this.state = this.remaining === 0 ? State.TrailerStart : State.Data;
          break;
        case State.DataCr:
          if (chunk[i] !== CR) return -2;
          this.state = State.DataLf;
          break;
        case State.DataLf:
          if (chunk[i] !== LF) return -2;
          this.state = State.Size;
          break;
        case State.TrailerStart:
          if (chunk[i] === LF || chunk[i] === 0) return -2;
          this.state = chunk[i] === CR ? State.FinalLf : State.Trailer;
          break;
        case State.Trailer:
          if (chunk[i] === CR) this.state = State.TrailerLf;
          else if (chunk[i] === LF || chunk[i] === 0) return -2;
          break;
        case State.TrailerLf:
          if (chunk[i] !== LF) return -2;
          this.state = State.TrailerStart;
          break;
        case State.FinalLf:
          if (chunk[i] !== LF) return -2;
          return i + 1;
      }
      i++;
    }
    return -1;
  }
}
