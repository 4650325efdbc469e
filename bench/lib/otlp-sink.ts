// A local OTLP/HTTP trace receiver for the tracing comparison: it accepts POST /v1/traces (protobuf, the
// exporter's default, gzip or not), answers 200 with an empty ExportTraceServiceResponse, and counts requests,
// bytes and spans by name. Loopback only; nothing is kept but the counts.
import { createServer } from 'node:http';
import { once } from 'node:events';
import { gunzipSync } from 'node:zlib';

export interface OtlpSink {
  readonly url: string;
  counts(): { posts: number; bytes: number; spans: number; by_name: Record<string, number>; rejected: number };
  stop(): Promise<void>;
}

/** Calls `each(field, value)` for every length-delimited field of one protobuf message; skips the other wire types. */
function fields(buf: Buffer, each: (field: number, value: Buffer) => void): void {
  let i = 0;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (;;) {
      const b = buf[i++]!;
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
  };
  while (i < buf.length) {
    const tag = varint();
    const wire = tag & 7;
    if (wire === 0) varint();
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) { const n = varint(); each(tag >>> 3, buf.subarray(i, i + n)); i += n; }
    else throw new Error(`protobuf wire type ${wire}`);
  }
}

/** ExportTraceServiceRequest → ResourceSpans (1) → ScopeSpans (2) → Span (2) → name (5). */
function spanNames(body: Buffer, out: (name: string) => void): void {
  fields(body, (f, rs) => {
    if (f !== 1) return;
    fields(rs, (f2, ss) => {
      if (f2 !== 2) return;
      fields(ss, (f3, span) => {
        if (f3 !== 2) return;
        let name = '';
        fields(span, (f4, v) => { if (f4 === 5) name = v.toString('utf8'); });
        out(name);
      });
    });
  });
}

export async function startOtlpSink(): Promise<OtlpSink> {
  let posts = 0;
  let bytes = 0;
  let spans = 0;
  let rejected = 0;
  const byName: Record<string, number> = {};
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') { rejected++; res.writeHead(404).end(); return; }
      posts++;
      let body = Buffer.concat(parts);
      bytes += body.length;
      try {
        if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
        spanNames(body, (n) => { spans++; byName[n] = (byName[n] ?? 0) + 1; });
      } catch { rejected++; }
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    counts: () => ({ posts, bytes, spans, by_name: { ...byName }, rejected }),
    stop: async () => { server.closeAllConnections(); server.close(); },
  };
}
