import { shellQuote } from "./shell";

/**
 * The operators' extra SSH keys, installed over SSH rather than by cloud-init: a change of user
 * data makes DigitalOcean build a new droplet, while this only rewrites one block of root's
 * authorized_keys. Lines outside the block (the deploy key DigitalOcean installed, anything an
 * operator added by hand) are kept as they are.
 */

export const AUTHORIZED_KEYS_PATH = "/root/.ssh/authorized_keys";
const BEGIN = "# BEGIN private-registry extraSshPublicKeys";
const END = "# END private-registry extraSshPublicKeys";

export function renderAuthorizedKeysScript(keys: readonly string[], path: string = AUTHORIZED_KEYS_PATH): string {
    const q = shellQuote;
    const keyLines = keys.map((key) => `  printf '%s\\n' ${q(key.trim())}`).join("\n");
    return `#!/bin/sh
# Replaces the block of operator keys this stack manages in root's authorized_keys.
set -eu
file=${q(path)}
begin=${q(BEGIN)}
end=${q(END)}
umask 077
mkdir -p "$(dirname "$file")"
touch "$file"
next=$(mktemp "$file.XXXXXX")
awk -v b="$begin" -v e="$end" '$0 == b { skip = 1; next } $0 == e { skip = 0; next } !skip' "$file" > "$next"
{
  printf '%s\\n' "$begin"
${keyLines}
  printf '%s\\n' "$end"
} >> "$next"
chmod 600 "$next"
mv -f "$next" "$file"
echo "${keys.length} operator key(s) installed for root"
`;
}
