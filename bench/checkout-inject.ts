// Sequential checkouts (add to cart + POST /orders) through app.inject: the cost
// of the checkout transaction itself, without HTTP. `npx tsx bench/checkout-inject.ts`
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'

const ORDERS = Number(process.env.ORDERS ?? 2000)
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'checkout-bench-'))
const app = await buildApp(loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent', SMTP_URL: 'smtp://127.0.0.1:1', ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' }))
await app.ready()
const created = await app.repos.catalogue.createProduct({ name: 'Bench mug', priceCents: 999, stock: 10_000_000 })
if (!created.ok) throw new Error(created.reason)
const product = created.product
await app.inject({ method: 'POST', url: '/users', payload: { email: 'bench@example.test', password: 'correct horse battery' } })
const login = await app.inject({ method: 'POST', url: '/auth/token', payload: { username: 'bench@example.test', password: 'correct horse battery' } })
const headers = { authorization: `Bearer ${login.json().access_token as string}` }

const start = performance.now()
for (let i = 0; i < ORDERS; i++) {
  await app.inject({ method: 'POST', url: '/cart/items', headers, payload: { product_id: product.id, quantity: 1 } })
  const res = await app.inject({ method: 'POST', url: '/orders', headers, payload: { shipping_address: 'Bench St' } })
  if (res.statusCode !== 201) throw new Error(res.body)
}
const seconds = (performance.now() - start) / 1000
await app.close()
fs.rmSync(dataDir, { recursive: true, force: true })
console.log(JSON.stringify({ orders: ORDERS, seconds: +seconds.toFixed(2), ordersPerSecond: Math.round(ORDERS / seconds) }))
