// The ceiling every scenario is compared with: raw node:http, no framework, no auth.
import http from 'node:http'

const body = JSON.stringify({ hello: 'world' })
const server = http.createServer((_request, response) => {
  response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
  response.end(body)
})
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1')
process.on('SIGTERM', () => server.close(() => process.exit(0)))
