/**
 * Repository patterns, which limit a user to some repositories: a repository name in which `*`
 * matches within one path component and `**` across components (`team-a/**`). Pure.
 */

/** Lowercase name characters and the wildcards; the registry's own names are lowercase. */
const PATTERN = /^[a-z0-9*][a-z0-9._/*-]*$/;

/** Why a pattern is refused, in words that follow "which"; undefined when it is fine. */
export function repositoryPatternProblem(pattern: string): string | undefined {
    if (!PATTERN.test(pattern)) {
        return "may hold only lowercase letters, digits, '.', '_', '-', '/' and the wildcards * and **";
    }
    if (pattern.includes("***")) {
        return "has three wildcards in a row (write * or **)";
    }
    if (pattern.includes("//") || pattern.endsWith("/")) {
        return "has an empty path component";
    }
    return undefined;
}

/** A pattern as a regular expression on the repository name, without anchors. */
export function repositoryPatternRegex(pattern: string): string {
    const problem = repositoryPatternProblem(pattern);
    if (problem !== undefined) {
        throw new Error(`repository pattern ${JSON.stringify(pattern)} ${problem}`);
    }
    return pattern
        .split("**")
        .map((part) => part.split("*").map((literal) => literal.replace(/[.]/g, "\\.")).join("[^/]*"))
        .join(".*");
}
