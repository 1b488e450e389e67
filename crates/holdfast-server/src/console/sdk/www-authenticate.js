/**
 * Parsing `WWW-Authenticate` ([RFC 9110 §11.6.1](https://www.rfc-editor.org/rfc/rfc9110#section-11.6.1)):
 * one or more challenges, each a scheme followed by `name=value` parameters
 * (token or quoted-string), all separated by commas, for example
 * `Bearer realm="api", DPoP algs="ES256", error="use_dpop_nonce"`.
 *
 * Not supported: `token68` credentials (no scheme the SDK reads uses them).
 *
 * @module
 */
const TOKEN = /[!#$%&'*+\-.^_`|~0-9A-Za-z]+/y;
/** Parses a header value; unparseable tails are ignored. */
export function parseWwwAuthenticate(header) {
    const out = [];
    if (!header)
        return out;
    let i = 0;
    const skip = (chars) => {
        while (i < header.length && chars.test(header[i] ?? ""))
            i++;
    };
    const token = () => {
        TOKEN.lastIndex = i;
        const m = TOKEN.exec(header);
        if (!m)
            return undefined;
        i = TOKEN.lastIndex;
        return m[0];
    };
    while (i < header.length) {
        skip(/[\s,]/);
        const name = token();
        if (name === undefined)
            break;
        skip(/[ \t]/);
        if (header[i] === "=") {
            i++;
            skip(/[ \t]/);
            let value;
            if (header[i] === '"') {
                i++;
                value = "";
                while (i < header.length && header[i] !== '"') {
                    if (header[i] === "\\")
                        i++;
                    value += header[i] ?? "";
                    i++;
                }
                i++;
            }
            else {
                value = token() ?? "";
            }
            const current = out[out.length - 1];
            if (current)
                current.params[name.toLowerCase()] = value;
        }
        else {
            out.push({ scheme: name.toLowerCase(), params: {} });
        }
    }
    return out;
}
/**
 * The challenge that carries an `error`, preferring the `DPoP` scheme, or
 * else the first `DPoP` challenge, or else the first challenge.
 */
export function relevantChallenge(header) {
    const all = parseWwwAuthenticate(header);
    return (all.find((c) => c.scheme === "dpop" && c.params.error) ??
        all.find((c) => c.params.error) ??
        all.find((c) => c.scheme === "dpop") ??
        all[0]);
}
