// The DeleteObjects request body, read strictly. Only the document shape S3 documents is accepted
// (DeleteObjects API reference, "Request Syntax"):
//
//   <?xml version="1.0" encoding="UTF-8"?>
//   <Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
//     <Object><Key>k</Key><VersionId>v</VersionId><ETag>…</ETag>…</Object> (1 to 1,000)
//     <Quiet>true</Quiet>
//   </Delete>
//
// No DTD, entity declarations, comments, CDATA, processing instructions (but the XML declaration),
// prefixes or self-closing elements: each is a way for two XML parsers to read different keys, and
// SDKs emit none of them. Text is decoded as XML 1.0 does: the five predefined entities, character
// references to legal characters, and end-of-line normalization (§2.11: CRLF and lone CR read as LF;
// a CR written as &#13; stays a CR), so the keys Errand authorizes are the keys S3 deletes.

export interface DeleteEntry {
  readonly key: string;
  readonly versionId: string | undefined;
}

export const MAX_DELETE_OBJECTS = 1000;

const S3_NAMESPACE = 'http://s3.amazonaws.com/doc/2006-03-01/';
const OBJECT_CHILDREN = new Set(['Key', 'VersionId', 'ETag', 'LastModifiedTime', 'Size']);

type Result = { ok: true; entries: DeleteEntry[]; quiet: boolean } | { ok: false; message: string };

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** XML 1.0 §2.2 Char. */
function isXmlChar(cp: number): boolean {
  return (
    cp === 0x9 ||
    cp === 0xa ||
    cp === 0xd ||
    (cp >= 0x20 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp <= 0x10ffff)
  );
}

class XmlError extends Error {}

class Reader {
  pos = 0;
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  fail(what: string): never {
    throw new XmlError(`${what} at offset ${this.pos}`);
  }
  skipSpace(): void {
    while (this.pos < this.text.length && ' \t\r\n'.includes(this.text[this.pos]!)) this.pos++;
  }
  startsWith(s: string): boolean {
    return this.text.startsWith(s, this.pos);
  }
  /** `<Name>` or `<Name xmlns="…">`; returns the name and whether it declared the S3 namespace. */
  openTag(): { name: string; xmlns: string | undefined } {
    if (this.text[this.pos] !== '<') this.fail('expected an element');
    const m = /^<([A-Za-z][A-Za-z0-9]*)(?:\s+xmlns\s*=\s*("[^"<&]*"|'[^'<&]*'))?\s*>/.exec(
      this.text.slice(this.pos, this.pos + 256),
    );
    if (!m) this.fail('unsupported markup (only plain elements are accepted)');
    this.pos += m[0].length;
    return { name: m[1]!, xmlns: m[2]?.slice(1, -1) };
  }
  closeTag(name: string): void {
    if (this.startsWith('<!') || this.startsWith('<?'))
      this.fail('unsupported markup (only plain elements are accepted)');
    const m = /^<\/([A-Za-z][A-Za-z0-9]*)\s*>/.exec(this.text.slice(this.pos, this.pos + 256));
    if (!m || m[1] !== name) this.fail(`expected </${name}>`);
    this.pos += m[0].length;
  }
  /** Character data up to the next '<', decoded (entities, character references, line ends). */
  chars(): string {
    let out = '';
    while (this.pos < this.text.length && this.text[this.pos] !== '<') {
      const c = this.text[this.pos]!;
      if (c === '&') {
        const m = /^&(lt|gt|amp|quot|apos|#[0-9]{1,7}|#x[0-9A-Fa-f]{1,6});/.exec(
          this.text.slice(this.pos, this.pos + 12),
        );
        if (!m) this.fail('unsupported entity reference');
        const ref = m[1]!;
        const named: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
        if (named[ref] !== undefined) out += named[ref];
        else {
          const cp = ref.startsWith('#x')
            ? Number.parseInt(ref.slice(2), 16)
            : Number.parseInt(ref.slice(1), 10);
          if (!isXmlChar(cp)) this.fail('character reference to an illegal character');
          out += String.fromCodePoint(cp);
        }
        this.pos += m[0].length;
        continue;
      }
      const cp = this.text.codePointAt(this.pos)!;
      if (!isXmlChar(cp)) this.fail('illegal character');
      if (c === '\r') {
        // §2.11: CRLF → LF, lone CR → LF.
        out += '\n';
        this.pos += this.text[this.pos + 1] === '\n' ? 2 : 1;
        continue;
      }
      if (c === ']' && this.startsWith(']]>')) this.fail("']]>' in character data");
      const ch = String.fromCodePoint(cp);
      out += ch;
      this.pos += ch.length;
    }
    return out;
  }
  /** Whitespace-only character data between elements. */
  space(): void {
    const t = this.chars();
    if (!/^[ \t\n]*$/.test(t)) this.fail('unexpected text between elements');
  }
}

function readObject(r: Reader): DeleteEntry {
  const seen = new Map<string, string>();
  r.space();
  while (!r.startsWith('</')) {
    const { name, xmlns } = r.openTag();
    if (xmlns !== undefined || !OBJECT_CHILDREN.has(name)) r.fail(`unexpected element <${name}> in <Object>`);
    if (seen.has(name)) r.fail(`<${name}> appears twice in one <Object>`);
    seen.set(name, r.chars());
    r.closeTag(name);
    r.space();
  }
  r.closeTag('Object');
  const key = seen.get('Key');
  if (key === undefined || key === '') r.fail('an <Object> without a <Key>');
  return { key, versionId: seen.get('VersionId') };
}

/** Parses a DeleteObjects body: the keys (and versions) to delete, in document order. */
export function parseDeleteObjectsXml(body: Uint8Array): Result {
  let text: string;
  try {
    text = decoder.decode(body);
  } catch {
    return { ok: false, message: 'the Delete document is not valid UTF-8' };
  }
  const r = new Reader(text);
  try {
    if (text.charCodeAt(0) === 0xfeff) r.fail('byte-order mark');
    const decl =
      /^<\?xml\s+version\s*=\s*(["'])1\.[01]\1(?:\s+encoding\s*=\s*(["'])(?:UTF-8|utf-8)\2)?(?:\s+standalone\s*=\s*(["'])(?:yes|no)\3)?\s*\?>/.exec(
        text,
      );
    if (decl) r.pos = decl[0].length;
    r.skipSpace();
    const root = r.openTag();
    if (root.name !== 'Delete') r.fail('the root element is not <Delete>');
    if (root.xmlns !== undefined && root.xmlns !== S3_NAMESPACE) r.fail('unexpected namespace');
    const entries: DeleteEntry[] = [];
    let quiet: boolean | undefined;
    r.space();
    while (!r.startsWith('</')) {
      const { name, xmlns } = r.openTag();
      if (xmlns !== undefined) r.fail('namespace declaration on a child element');
      if (name === 'Object') {
        entries.push(readObject(r));
        if (entries.length > MAX_DELETE_OBJECTS) r.fail(`more than ${MAX_DELETE_OBJECTS} objects`);
      } else if (name === 'Quiet' && quiet === undefined) {
        const v = r.chars();
        if (v !== 'true' && v !== 'false') r.fail('<Quiet> is neither true nor false');
        quiet = v === 'true';
        r.closeTag('Quiet');
      } else {
        r.fail(`unexpected element <${name}> in <Delete>`);
      }
      r.space();
    }
    r.closeTag('Delete');
    r.skipSpace();
    if (r.pos !== text.length) r.fail('content after the document');
    if (entries.length === 0) r.fail('no <Object>');
    return { ok: true, entries, quiet: quiet ?? false };
  } catch (error) {
    if (error instanceof XmlError)
      return { ok: false, message: `the Delete document is refused: ${error.message}` };
    throw error;
  }
}
