import { errors } from './errors.js'

// Keyset pagination: the cursor is the last id of the page, so a walk sees every
// row that exists throughout it exactly once, however rows come and go meanwhile.
export function encodeCursor (lastId: number): string {
  return Buffer.from(`k${lastId}`).toString('base64url')
}

export function decodeCursor (cursor: string | undefined): number | undefined {
  if (cursor === undefined) return undefined
  const match = /^k([1-9][0-9]{0,14})$/.exec(Buffer.from(cursor, 'base64url').toString())
  // Node's base64 decoder skips characters outside the alphabet: accept only our exact encoding.
  if (!match || encodeCursor(Number(match[1])) !== cursor) throw new errors.INVALID_CURSOR()
  return Number(match[1])
}

/** Callers fetch limit + 1 rows; the extra one only says whether another page exists. */
export function toPage<T extends { id: number }, R> (rows: T[], limit: number, map: (row: T) => R) {
  const hasMore = rows.length > limit
  const pageRows = hasMore ? rows.slice(0, limit) : rows
  const last = pageRows.at(-1)
  return {
    items: pageRows.map(map),
    next_cursor: hasMore && last ? encodeCursor(last.id) : null
  }
}
