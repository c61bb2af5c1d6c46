/**
 * Quotes a value for POSIX sh so that it arrives as one inert word: no expansion, no word
 * splitting, no command substitution, whatever it contains (quotes, `$()`, newlines, unicode).
 */
export function shellQuote(value: string): string {
    if (value.includes("\0")) {
        throw new Error("a shell word cannot contain a NUL byte");
    }
    return `'${value.replace(/'/g, `'\\''`)}'`;
}
