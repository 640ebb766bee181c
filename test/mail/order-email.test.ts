import t from 'tap'
import { build, createUser } from '../helper.js'
import { insertProduct } from '../commerce-fixtures.js'
import { SmtpSink, waitFor } from '../smtp-sink.js'

t.test('a checkout sends its owner one confirmation e-mail naming the order, lines and total', async (t) => {
  const sink = await new SmtpSink().start()
  t.teardown(() => sink.stop())
  const app = await build(t, { SMTP_URL: sink.url, CURRENCY: 'EUR' })
  const user = await createUser(app)
  const kettle = insertProduct(app, { name: 'Gooseneck kettle', priceCents: 4999, stock: 5 })
  const beans = insertProduct(app, { name: 'Espresso beans 1 kg', priceCents: 2250, stock: 50 })
  await user.inject({ method: 'POST', url: '/cart/items', payload: { product_id: kettle.id, quantity: 1 } })
  await user.inject({ method: 'POST', url: '/cart/items', payload: { product_id: beans.id, quantity: 2 } })
  const order = await user.inject({ method: 'POST', url: '/orders', payload: { shipping_address: '9 Bean Road' } })
  t.equal(order.statusCode, 201)
  const { id } = order.json<{ id: number }>()

  const mail = await waitFor(() => sink.messages[0], 10_000, 'the order e-mail')
  t.equal(mail.subject, `Order #${id} confirmed`)
  t.equal(mail.to && !Array.isArray(mail.to) ? mail.to.text : '', user.email)
  t.match(mail.text, `order #${id}`)
  t.match(mail.text, '1 × Gooseneck kettle at 49.99 EUR')
  t.match(mail.text, '2 × Espresso beans 1 kg at 22.50 EUR')
  t.match(mail.text, 'Total: 94.99 EUR')
  await new Promise((resolve) => setTimeout(resolve, 700))
  t.equal(sink.messages.length, 1, 'exactly one e-mail')
})
