// Canonical form of grant URLs. The proxy compares normalized request URLs with manifest URLs as
// strings, so a manifest must hold exactly one spelling of each URL: the one the WHATWG URL parser
// produces (https://url.spec.whatwg.org/#url-serializing), plus RFC 3986 §6.2.2 percent-encoding
// normalization (upper-case hex, unreserved characters decoded), with no user information, no
// fragment, no empty query and no trailing dot on the host. Problems carry the canonical form as fix.

export interface UrlProblem {
  readonly message: string;
  readonly fix?: string;
}

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/** RFC 3986 §6.2.2.1-2: upper-case percent-encoding hex, decode encoded unreserved characters. */
export function normalizePercentEncoding(text: string): string {
  return text.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => {
    const char = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`;
  });
}

/** The canonical form of `input`, or undefined when it is not a URL at all. */
export function canonicalizeUrl(input: string): string | undefined {
  if (!URL.canParse(input)) return undefined;
  const url = new URL(input);
  const host = url.hostname.endsWith('.') ? url.hostname.slice(0, -1) : url.hostname;
  const port = url.port === '' ? '' : `:${url.port}`;
  const search = url.search === '' ? '' : normalizePercentEncoding(url.search);
  return `${url.protocol}//${host}${port}${normalizePercentEncoding(url.pathname)}${search}`;
}

/** Why `input` differs from its canonical form, in words a user can act on. */
function explainDifferences(input: string, url: URL): string[] {
  const reasons: string[] = [];
  const authority = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)/.exec(input)?.[1] ?? '';
  const path = input.slice(input.indexOf(authority) + authority.length).split(/[?#]/)[0] ?? '';
  if (/[A-Z]/.test(authority)) reasons.push('the host must be lower-case');
  if (authority.endsWith('.') || /\.:\d+$/.test(authority)) reasons.push('the host must not end with a dot');
  if (/:(443)$/.test(authority) && url.protocol === 'https:') reasons.push('the default port 443 is implied');
  if (/:(80)$/.test(authority) && url.protocol === 'http:') reasons.push('the default port 80 is implied');
  if (/(^|\/)(\.|%2e){1,2}(\/|$)/i.test(path)) reasons.push('dot segments (. and ..) are not allowed');
  if (input.includes('\\')) reasons.push('backslashes are not allowed');
  if (path === '') reasons.push('the path must be at least /');
  if (/%[0-9a-f]?[a-f]/.test(input)) reasons.push('percent-encoding uses upper-case hex');
  if (/[^\x21-\x7e]/.test(input)) reasons.push('non-ASCII characters and spaces must be percent-encoded');
  const encoded = input.match(/%[0-9A-Fa-f]{2}/g) ?? [];
  if (encoded.some((e) => UNRESERVED.test(String.fromCharCode(Number.parseInt(e.slice(1), 16))))) {
    reasons.push('unreserved characters (letters, digits, - . _ ~) must not be percent-encoded');
  }
  return reasons;
}

/**
 * Check a grant URL. `pattern` allows `*` as a whole path segment (and nowhere else); a pattern
 * needs at least one. Scheme policy (https, or http with the unsafe switch) is checked by the caller.
 */
export function checkGrantUrl(input: string, pattern: boolean): UrlProblem[] {
  if (!URL.canParse(input)) {
    return [{ message: `${JSON.stringify(input)} is not a valid URL` }];
  }
  const url = new URL(input);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return [{ message: `scheme ${JSON.stringify(url.protocol)} is not allowed`, fix: 'use https://' }];
  }
  const problems: UrlProblem[] = [];
  const canonical = canonicalizeUrl(input)!;
  if (url.username !== '' || url.password !== '') {
    problems.push({
      message: 'the URL must not contain user information (user:password@); send credentials with inject',
      fix: `write ${canonical}`,
    });
  }
  if (input.includes('#')) {
    problems.push({
      message: 'the URL must not have a fragment (#…): it is never sent to the server',
      fix: `write ${canonical}`,
    });
  }
  if (/\?$/.test(input.split('#')[0]!)) {
    problems.push({ message: 'the URL must not end with an empty query (?)', fix: `write ${canonical}` });
  }
  if (pattern) {
    const path = url.pathname.split('/');
    if (url.host.includes('*') || url.search.includes('*')) {
      problems.push({ message: 'a * may stand only for a whole path segment, not in the host or query' });
    } else if (path.some((segment) => segment.includes('*') && segment !== '*')) {
      problems.push({
        message:
          'a * must be a whole path segment, e.g. /items/*/parts; partial segments like /a* are not allowed',
      });
    } else if (!path.includes('*')) {
      problems.push({ message: 'urlPattern has no *', fix: `use url: ${canonical}` });
    }
  } else if (input.includes('*')) {
    problems.push({
      message: 'url must be exact; * is only allowed in urlPattern',
      fix: 'use urlPattern, where * stands for one path segment',
    });
  }
  if (problems.length === 0 && canonical !== input) {
    const reasons = explainDifferences(input, url);
    problems.push({
      message: `the URL is not canonical${reasons.length > 0 ? `: ${reasons.join('; ')}` : ''}`,
      fix: `write ${canonical}`,
    });
  }
  return problems;
}
