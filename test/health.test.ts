import t from 'tap'
import { build } from './helper.js'

t.test('GET /health/live answers while the process runs', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: '/health/live' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { status: 'ok' })
})

t.test('GET /health/ready is 200 while the database answers and 503 once it is gone', async (t) => {
  const app = await build(t)
  const ok = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { status: 'ok' })

  app.sqlite.close()
  const down = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(down.statusCode, 503)
  t.same(down.json(), { status: 'unavailable' })
})
