import t from 'tap'
import { build, createUser, type App, type TestUser } from '../helper.js'

// GET /users (admin): items + next_cursor, ?email=, keyset pagination.

interface UserBody { id: number, email: string, full_name: string | null, role: string, disabled: boolean, created_at: string }
interface PageBody { items: UserBody[], next_cursor: string | null }

const errorBody = (statusCode: number, code: string, error: string, message: string) => ({ statusCode, code, error, message })

const page = async (admin: TestUser, query: string): Promise<PageBody> => {
  const res = await admin.inject({ method: 'GET', url: `/users${query}` })
  if (res.statusCode !== 200) throw new Error(`GET /users${query}: ${res.statusCode} ${res.body}`)
  return res.json()
}

/** Walks every page of `limit`, calling `between` after each page; returns the ids in order and the page sizes. */
async function walk (admin: TestUser, limit: number, between: (round: number) => Promise<void> = async () => {}) {
  const ids: number[] = []
  const sizes: number[] = []
  let cursor: string | null = null
  let round = 0
  do {
    const current: PageBody = await page(admin, `?limit=${limit}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`)
    ids.push(...current.items.map((user) => user.id))
    sizes.push(current.items.length)
    cursor = current.next_cursor
    await between(round++)
    if (round > 200) throw new Error('the walk does not end')
  } while (cursor !== null)
  return { ids, sizes }
}

async function seed (app: App, count: number) {
  const admin = await createUser(app, { role: 'admin', email: 'admin@example.test', fullName: 'Admin' })
  const others: TestUser[] = []
  for (let i = 0; i < count; i++) others.push(await createUser(app, { email: `user${i}@example.test` }))
  return { admin, others }
}

t.test('the list: exactly the users, in id order, each as the public user', async (t) => {
  const app = await build(t)
  const { admin, others } = await seed(app, 2)
  const body = await page(admin, '')
  t.same(Object.keys(body).sort(), ['items', 'next_cursor'])
  t.equal(body.next_cursor, null, 'one page holds them all')
  t.same(body.items.map((user) => user.id), [admin.id, ...others.map((user) => user.id)])
  for (const user of body.items) {
    t.same(Object.keys(user).sort(), ['created_at', 'disabled', 'email', 'full_name', 'id', 'role'], `user ${user.id}: exactly the public fields`)
    t.same(user, (await admin.inject({ method: 'GET', url: `/users/${user.id}` })).json(), `user ${user.id}: as GET /users/{id} shows it`)
  }
  t.match(body.items[0], { email: 'admin@example.test', full_name: 'Admin', role: 'admin', disabled: false })
  t.match(body.items[1], { email: 'user0@example.test', full_name: null, role: 'customer', disabled: false })
})

t.test('?email= is an exact, case-insensitive match', async (t) => {
  const app = await build(t)
  const { admin, others } = await seed(app, 3)
  const target = (await admin.inject({ method: 'GET', url: `/users/${others[1]!.id}` })).json()
  for (const email of ['user1@example.test', 'USER1@EXAMPLE.TEST', 'User1@Example.Test']) {
    t.same(await page(admin, `?email=${encodeURIComponent(email)}`), { items: [target], next_cursor: null }, email)
  }
  for (const email of ['user1', 'example.test', 'user1@example', 'user%@example.test', 'user_@example.test', 'nobody@example.test']) {
    t.same(await page(admin, `?email=${encodeURIComponent(email)}`), { items: [], next_cursor: null }, `${email}: no partial or pattern match`)
  }
})

t.test('limit=2 walks every user exactly once, in order, in full pages', async (t) => {
  const app = await build(t)
  const { admin, others } = await seed(app, 6)
  const expected = [admin.id, ...others.map((user) => user.id)]
  const { ids, sizes } = await walk(admin, 2)
  t.same(ids, expected, 'every user once, ascending')
  t.same(sizes, [2, 2, 2, 1])

  // An exact multiple: the last full page already says there is no more.
  await createUser(app)
  const even = await walk(admin, 2)
  t.same(even.sizes, [2, 2, 2, 2], 'no empty trailing page')

  t.equal((await page(admin, '?limit=1')).items.length, 1)
  t.equal((await page(admin, '?limit=100')).items.length, 8)
  t.equal((await page(admin, '?limit=100')).next_cursor, null)
})

t.test('a walk while users are added and deleted returns every user that existed throughout exactly once', async (t) => {
  const app = await build(t)
  const { admin, others } = await seed(app, 9)
  const all = [admin, ...others]
  const deleted = new Set<number>()
  const added: number[] = []
  const remove = async (user: TestUser) => {
    t.equal((await admin.inject({ method: 'DELETE', url: `/users/${user.id}` })).statusCode, 204)
    deleted.add(user.id)
  }
  const { ids } = await walk(admin, 2, async (round) => {
    // After each page: someone new registers; an already seen user and a not yet seen one leave.
    added.push((await createUser(app)).id)
    if (round === 0) await remove(all[1]!)
    if (round === 1) await remove(all[7]!)
    if (round === 2) await remove(all[2]!)
    if (round === 3) await remove(all[9]!)
  })
  const throughout = all.map((user) => user.id).filter((id) => !deleted.has(id))
  t.equal(throughout.length, 6)
  for (const id of throughout) t.equal(ids.filter((seen) => seen === id).length, 1, `user ${id} seen exactly once`)
  t.equal(new Set(ids).size, ids.length, 'no user twice')
  t.same(ids, [...ids].sort((a, b) => a - b), 'ascending')
  t.notOk(ids.includes(all[7]!.id) || ids.includes(all[9]!.id), 'users deleted before their page are not returned')
  t.ok(ids.every((id) => all.some((user) => user.id === id) || added.includes(id)), 'nothing but real users')
})

t.test('bad queries: 400 with the standard body', async (t) => {
  const app = await build(t)
  const { admin } = await seed(app, 1)
  const enc = (text: string) => Buffer.from(text).toString('base64url')
  const cases: Array<[string, string, string]> = [
    ['?limit=0', 'VALIDATION_ERROR', 'querystring/limit must be >= 1'],
    ['?limit=101', 'VALIDATION_ERROR', 'querystring/limit must be <= 100'],
    ['?limit=abc', 'VALIDATION_ERROR', 'querystring/limit must be integer'],
    ['?limit=1.5', 'VALIDATION_ERROR', 'querystring/limit must be integer'],
    ['?limit=-1', 'VALIDATION_ERROR', 'querystring/limit must be >= 1'],
    ['?unknown=1', 'VALIDATION_ERROR', 'querystring must NOT have additional properties'],
    ['?cursor=', 'VALIDATION_ERROR', 'querystring/cursor must NOT have fewer than 1 characters'],
    ['?cursor=garbage', 'INVALID_CURSOR', 'The cursor is not one this service issued'],
    [`?cursor=${enc('k0')}`, 'INVALID_CURSOR', 'The cursor is not one this service issued'],
    [`?cursor=${enc('k-1')}`, 'INVALID_CURSOR', 'The cursor is not one this service issued'],
    [`?cursor=${enc('k1.5')}`, 'INVALID_CURSOR', 'The cursor is not one this service issued'],
    [`?cursor=${enc('1')}`, 'INVALID_CURSOR', 'The cursor is not one this service issued'],
    [`?cursor=${enc('k' + '9'.repeat(16))}`, 'INVALID_CURSOR', 'The cursor is not one this service issued'],
    ['?cursor=%00', 'INVALID_CURSOR', 'The cursor is not one this service issued']
  ]
  for (const [query, code, message] of cases) {
    const res = await admin.inject({ method: 'GET', url: `/users${query}` })
    t.equal(res.statusCode, 400, query)
    t.same(res.json(), errorBody(400, code, 'Bad Request', message), query)
  }
})

t.test('customers get 403, the anonymous 401', async (t) => {
  const app = await build(t)
  const { others: [customer] } = await seed(app, 1)
  const forbidden = await customer!.inject({ method: 'GET', url: '/users' })
  t.equal(forbidden.statusCode, 403)
  t.same(forbidden.json(), errorBody(403, 'INSUFFICIENT_SCOPE', 'Forbidden', 'This token does not carry the scope this needs: users:read'))
  t.equal(forbidden.headers['www-authenticate'], 'Bearer error="insufficient_scope", scope="users:read"')
  t.equal((await customer!.inject({ method: 'GET', url: `/users?email=${encodeURIComponent(customer!.email)}` })).statusCode, 403, 'not even for oneself')

  const anonymous = await app.inject({ method: 'GET', url: '/users' })
  t.equal(anonymous.statusCode, 401)
  t.same(anonymous.json(), errorBody(401, 'UNAUTHORIZED', 'Unauthorized', 'A valid access token is required'))
  t.equal(anonymous.headers['www-authenticate'], 'Bearer')
})
