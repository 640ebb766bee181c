import { dictionary } from '@zxcvbn-ts/language-common'

// ~49,000 of the most common leaked passwords (zxcvbn-ts's list, from public
// breach corpora). Entries are lower-case, so the check is too: "Password1" is
// as guessable as "password1".
const common = new Set<string>(dictionary['passwords-common'])

/** Lengths are checked by the schemas (8–256 characters, exactly as sent); this adds the deny-list. */
export function isCommonPassword (password: string): boolean {
  return common.has(password.toLowerCase())
}

export const commonPasswordCount = common.size
