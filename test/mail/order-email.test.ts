import t from 'tap'
import { build, createUser, sqliteOf } from '../helper.js'
import { insertProduct } from '../commerce-fixtures.js'
import { SmtpSink, waitFor } from '../smtp-sink.js'

t.test('a checkout sends its owner one confirmation e-mail naming the order, each line and the total', async (t) => {
  const sink = await new SmtpSink().start()
  t.teardown(() => sink.stop())
  const app = await build(t, { SMTP_URL: sink.url, CURRENCY: 'EUR', MAIL_FROM: 'Shop <orders@shop.example>' })
  const user = await createUser(app)
  const bystander = await createUser(app)
  const kettle = await insertProduct(app, { name: 'Gooseneck kettle', priceCents: 4999, stock: 5 })
  const beans = await insertProduct(app, { name: 'Espresso beans 1 kg', priceCents: 2250, stock: 50 })
  t.equal((await user.inject({ method: 'POST', url: '/cart/items', payload: { product_id: kettle.id, quantity: 1 } })).statusCode, 200)
  t.equal((await user.inject({ method: 'POST', url: '/cart/items', payload: { product_id: beans.id, quantity: 2 } })).statusCode, 200)
  t.equal((await bystander.inject({ method: 'POST', url: '/cart/items', payload: { product_id: beans.id, quantity: 1 } })).statusCode, 200,
    'another user\'s cart, never checked out')

  const order = await user.inject({ method: 'POST', url: '/orders', payload: { shipping_address: '9 Bean Road' } })
  t.equal(order.statusCode, 201)
  const { id, total_cents: totalCents } = order.json<{ id: number, total_cents: number }>()
  t.equal(totalCents, 9499)

  const mail = await waitFor(() => sink.messages[0], 10_000, 'the order e-mail')
  t.equal(mail.from?.text, '"Shop" <orders@shop.example>')
  t.equal(mail.to && !Array.isArray(mail.to) ? mail.to.text : '', user.email, 'to the order\'s owner')
  t.equal(mail.subject, `Order #${id} confirmed`)
  const text = mail.text ?? ''
  t.match(text, new RegExp(`order #${id}\\b`), 'names the order id')
  t.match(text, /^1 × Gooseneck kettle at 49\.99 EUR\b/m, 'first line: quantity and product name')
  t.match(text, /^2 × Espresso beans 1 kg at 22\.50 EUR\b/m, 'second line: quantity and product name')
  t.match(text, /^Total: 94\.99 EUR$/m, 'the total')
  t.equal(text.match(/^\d+ × /gm)?.length, 2, 'two lines, the bystander\'s cart not among them')

  await waitFor(() => sqliteOf(app).prepare('SELECT sent_at FROM mail_outbox').pluck().get(), 5000, 'sent_at')
  await new Promise((resolve) => setTimeout(resolve, 700))
  t.equal(sink.messages.length, 1, 'exactly one e-mail')
  t.same(sqliteOf(app).prepare('SELECT recipient, subject, attempts, last_error AS lastError FROM mail_outbox').all(),
    [{ recipient: user.email, subject: `Order #${id} confirmed`, attempts: 0, lastError: null }], 'one outbox row, sent first time')
})

t.test('a refused checkout sends no e-mail', async (t) => {
  const sink = await new SmtpSink().start()
  t.teardown(() => sink.stop())
  const app = await build(t, { SMTP_URL: sink.url })
  const user = await createUser(app)
  const empty = await user.inject({ method: 'POST', url: '/orders', payload: { shipping_address: '9 Bean Road' } })
  t.equal(empty.statusCode, 409)
  t.equal(empty.json().code, 'CART_EMPTY')
  await new Promise((resolve) => setTimeout(resolve, 700))
  t.equal(sink.messages.length, 0)
  t.equal(sqliteOf(app).prepare('SELECT count(*) FROM mail_outbox').pluck().get(), 0)
})
