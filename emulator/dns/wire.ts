/**
 * The part of the DNS wire format (RFC 1035 §4) the server needs: read a query's
 * header and its one question, and write replies around them. Replies copy the
 * client's header and question bytes verbatim (so the id, the RD/CD bits and the
 * 0x20 case of the name come back as sent) and append a record encoded once at
 * start-up. Nothing here throws on hostile input: every read is bounds-checked.
 */

export const HEADER_BYTES = 12;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export const TYPE = { A: 1, AAAA: 28 } as const;
export const CLASS = { IN: 1, ANY: 255 } as const;

/** parseQuery's verdict on a packet not worth a reply: too short to carry an id, or itself a response. */
export const DROP = -1;

const MAX_NAME_OCTETS = 255;

export interface Question {
  /** Offset just past the question: header and question are what replies copy. */
  readonly end: number;
  /**
   * Lower-cased dotted name without the trailing dot ('' for the root). Undefined when
   * a label holds "." or ":", which a dotted host name cannot carry faithfully; such
   * names are never ours and go upstream untouched.
   */
  readonly name: string | undefined;
  readonly type: number;
  readonly class: number;
}

/**
 * Reads a query's header and single question. Returns the question, or the rcode to
 * answer with (FORMERR, NOTIMP) from the header alone, or DROP. The answer, authority
 * and additional sections are not read: local answers ignore them (EDNS included) and
 * forwarded queries travel as the client wrote them.
 */
export function parseQuery(message: Buffer): Question | number {
  const length = message.length;
  if (length < HEADER_BYTES) return DROP;
  const flags = message[2]!;
  if (flags & 0x80) return DROP; // QR: a response. Answering responses invites loops.
  if ((flags & 0x78) !== 0) return RCODE.NOTIMP; // opcode other than QUERY (NOTIFY, UPDATE, …)
  if (message.readUInt16BE(4) !== 1) return RCODE.FORMERR;

  let offset = HEADER_BYTES;
  let octets = 1; // the root label's length byte
  let name = '';
  let plain = true;
  for (;;) {
    if (offset >= length) return RCODE.FORMERR;
    const labelLength = message[offset]!;
    offset++;
    if (labelLength === 0) break;
    // 0xc0 is a compression pointer, which in the first question could only point into
    // the header; 0x40 and 0x80 are reserved. None belongs in a query.
    if (labelLength & 0xc0) return RCODE.FORMERR;
    const labelEnd = offset + labelLength;
    octets += labelLength + 1;
    if (labelEnd > length || octets > MAX_NAME_OCTETS) return RCODE.FORMERR;
    if (plain) {
      for (let i = offset; i < labelEnd; i++) {
        const byte = message[i]!;
        if (byte === 0x2e || byte === 0x3a) {
          plain = false;
          break;
        }
      }
      if (plain) name = name === '' ? message.toString('latin1', offset, labelEnd) : `${name}.${message.toString('latin1', offset, labelEnd)}`;
    }
    offset = labelEnd;
  }
  if (offset + 4 > length) return RCODE.FORMERR;
  return {
    end: offset + 4,
    name: plain ? name.toLowerCase() : undefined,
    type: message.readUInt16BE(offset),
    class: message.readUInt16BE(offset + 2),
  };
}

/**
 * A reply carrying the query's header and question, `rcode`, and `answer` (a record
 * from answerRecord) if given. With `framed`, the two-byte TCP length comes first.
 */
export function buildReply(query: Buffer, question: Question, rcode: number, authoritative: boolean, answer: Buffer | undefined, framed: boolean): Buffer {
  const start = framed ? 2 : 0;
  const length = question.end + (answer === undefined ? 0 : answer.length);
  const out = Buffer.allocUnsafe(start + length);
  if (framed) out.writeUInt16BE(length, 0);
  query.copy(out, start, 0, question.end);
  // QR, opcode and RD from the query, AA when the name is ours; TC cleared.
  out[start + 2] = 0x80 | (query[2]! & 0x79) | (authoritative ? 0x04 : 0);
  // RA (we recurse by forwarding), CD echoed (RFC 4035 §3.2.2), Z and AD clear.
  out[start + 3] = 0x80 | (query[3]! & 0x10) | rcode;
  out.writeUInt16BE(1, start + 4);
  out.writeUInt16BE(answer === undefined ? 0 : 1, start + 6);
  out.writeUInt32BE(0, start + 8); // no authority, no additional records
  if (answer !== undefined) answer.copy(out, start + question.end);
  return out;
}

/** A reply with the query's id, opcode and RD, `rcode`, and no sections: for queries we could not read. */
export function buildHeaderReply(query: Buffer, rcode: number, framed: boolean): Buffer {
  const start = framed ? 2 : 0;
  const out = Buffer.alloc(start + HEADER_BYTES);
  if (framed) out.writeUInt16BE(HEADER_BYTES, 0);
  out[start] = query[0]!;
  out[start + 1] = query[1]!;
  out[start + 2] = 0x80 | (query[2]! & 0x79);
  out[start + 3] = 0x80 | rcode;
  return out;
}

/**
 * One answer record whose owner is a compression pointer to the question name
 * (offset 12), so it can follow any question unchanged.
 */
export function answerRecord(type: number, ttl: number, data: Buffer): Buffer {
  const record = Buffer.allocUnsafe(12 + data.length);
  record.writeUInt16BE(0xc000 | HEADER_BYTES, 0);
  record.writeUInt16BE(type, 2);
  record.writeUInt16BE(CLASS.IN, 4);
  record.writeUInt32BE(Math.min(ttl >>> 0, 0x7fffffff), 6);
  record.writeUInt16BE(data.length, 10);
  data.copy(record, 12);
  return record;
}

/** Bytes of a dotted-quad address; the caller has checked it with net.isIPv4. */
export function ipv4Bytes(address: string): Buffer {
  return Buffer.from(address.split('.').map(Number));
}

/** Bytes of an IPv6 address, "::" and a trailing dotted quad included; the caller has checked it with net.isIPv6. */
export function ipv6Bytes(address: string): Buffer {
  let text = address;
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    const [a, b, c, d] = text
      .slice(lastColon + 1)
      .split('.')
      .map(Number) as [number, number, number, number];
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const gap = text.indexOf('::');
  const head = (gap === -1 ? text : text.slice(0, gap)).split(':').filter((group) => group !== '');
  const tail =
    gap === -1
      ? []
      : text
          .slice(gap + 2)
          .split(':')
          .filter((group) => group !== '');
  const groups = [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  const out = Buffer.alloc(16);
  groups.forEach((group, i) => out.writeUInt16BE(parseInt(group, 16), i * 2));
  return out;
}

/** The question bytes of `response` match those of `query`, ignoring ASCII case (resolvers may normalise it). */
export function sameQuestion(response: Buffer, query: Buffer, question: Question): boolean {
  if (response.length < question.end || response.readUInt16BE(4) !== 1) return false;
  for (let i = HEADER_BYTES; i < question.end; i++) {
    const a = response[i]!;
    const b = query[i]!;
    if (a === b) continue;
    const folded = a | 0x20;
    if (folded !== (b | 0x20) || folded < 0x61 || folded > 0x7a) return false;
  }
  return true;
}

/**
 * DNS over TCP framing (RFC 1035 §4.2.2, RFC 7766): a two-byte length, then the
 * message; several per connection. A message that arrives whole inside one chunk is
 * handed out as a view of it; a split one is gathered into a buffer of exactly its
 * size, so a peer trickling bytes costs no repeated copying.
 */
export class TcpFramer {
  #highByte = -1;
  #body: Buffer | undefined;
  #filled = 0;

  push(chunk: Buffer, onMessage: (message: Buffer) => void): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#body === undefined) {
        let length: number;
        if (this.#highByte !== -1) {
          length = (this.#highByte << 8) | chunk[offset]!;
          this.#highByte = -1;
          offset += 1;
        } else if (chunk.length - offset >= 2) {
          length = chunk.readUInt16BE(offset);
          offset += 2;
        } else {
          this.#highByte = chunk[offset]!;
          return;
        }
        if (length === 0) continue;
        if (chunk.length - offset >= length) {
          onMessage(chunk.subarray(offset, offset + length));
          offset += length;
          continue;
        }
        this.#body = Buffer.allocUnsafe(length);
        this.#filled = 0;
      }
      const body = this.#body;
      const copied = chunk.copy(body, this.#filled, offset);
      this.#filled += copied;
      offset += copied;
      if (this.#filled === body.length) {
        this.#body = undefined;
        onMessage(body);
      }
    }
  }
}
