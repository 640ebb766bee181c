// The Kubernetes manifests (deploy/kubernetes) and compose.yaml, without a cluster:
// `kubectl kustomize` renders the base and the SQLite overlay, kubernetes-models
// validates every object against the Kubernetes API schemas, and what the objects
// say is checked against the service itself: every variable they set is one
// src/config.ts reads, the probes ask routes that answer 200 on the port the service
// listens on, and the grace period covers the shutdown. Run by npm run test:container
// (it needs kubectl: Debian's kubernetes-client), or alone with npm run test:deploy.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { parse, parseAllDocuments } from 'yaml'
import { EnvSchema } from '../../src/config.js'
import { build } from '../helper.js'
import { unavailable } from '../postgres.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const known = new Set(Object.keys(EnvSchema.properties))
// README "Benchmarks": the service's peak RSS over the benchmark's scenarios.
const MEASURED_PEAK_RSS = 155 * 1e6
// src/server.ts: close-with-grace's delay, after which the process exits regardless —
// a constant, plus SHUTDOWN_DRAIN_MS when the delay includes the drain.
function shutdownMs (env: Record<string, string> = {}): number {
  const source = fs.readFileSync(new URL('../../src/server.ts', import.meta.url), 'utf8')
  const delay = /closeWithGrace\(\{\s*delay:\s*([^},]+)/.exec(source)?.[1] ?? ''
  const fixed = Number(/([\d_]+)\s*$/.exec(delay)?.[1]?.replace(/_/g, '') ?? NaN)
  if (!/shutdownDrainMs/.test(delay)) return fixed
  const drain = env.SHUTDOWN_DRAIN_MS ?? (EnvSchema.properties as Record<string, { default?: number }>).SHUTDOWN_DRAIN_MS?.default
  return fixed + Number(drain ?? NaN)
}

type Obj = { apiVersion: string, kind: string, metadata: { name: string, labels?: Record<string, string> }, [key: string]: any }

function render (dir: string): Obj[] {
  const r = spawnSync('kubectl', ['kustomize', dir], { cwd: root, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`kubectl kustomize ${dir}: ${r.stderr}`)
  return parseAllDocuments(r.stdout).map((doc) => doc.toJS()).filter(Boolean)
}

/** kubernetes-models' class for an object: kubernetes-models/<group>/<version>/<Kind>. */
async function validate (obj: Obj): Promise<void> {
  const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : [undefined, obj.apiVersion]
  const module = await import(`kubernetes-models/${group ? `${group}/` : ''}${version}/${obj.kind}`)
  new module[obj.kind](obj).validate()
}

const find = (objects: Obj[], kind: string, name?: string) => objects.find((o) => o.kind === kind && (!name || o.metadata.name === name))
const podSpec = (o: Obj) => o.spec.template.spec

const bytes = (quantity: string) => {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|k|M|G)?$/.exec(quantity)
  if (!m) throw new Error(`quantity ${quantity}`)
  const unit = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, k: 1e3, M: 1e6, G: 1e9 }[m[2] as 'Ki'] ?? 1
  return Number(m[1]) * unit
}

/** Every variable a container gets: env names, and the keys of the ConfigMaps it takes whole. */
function variables (objects: Obj[], container: any): string[] {
  const names: string[] = (container.env ?? []).map((e: { name: string }) => e.name)
  for (const from of container.envFrom ?? []) {
    if (from.configMapRef) names.push(...Object.keys(find(objects, 'ConfigMap', from.configMapRef.name)?.data ?? {}))
    if (from.secretRef) names.push(...Object.keys(find(objects, 'Secret', from.secretRef.name)?.stringData ?? {}))
  }
  return names
}

function checkWorkloads (t: Test, objects: Obj[]) {
  for (const workload of objects.filter((o) => o.kind === 'Deployment' || o.kind === 'Job')) {
    const spec = podSpec(workload)
    t.equal(spec.securityContext?.runAsNonRoot, true, `${workload.kind} ${workload.metadata.name}: runAsNonRoot`)
    t.equal(spec.securityContext?.runAsUser, 1000, `${workload.kind} ${workload.metadata.name}: runAsUser 1000 (the image's node user)`)
    for (const c of spec.containers) {
      const what = `${workload.kind} ${workload.metadata.name}, container ${c.name}`
      t.equal(c.securityContext?.readOnlyRootFilesystem, true, `${what}: readOnlyRootFilesystem`)
      t.equal(c.securityContext?.allowPrivilegeEscalation, false, `${what}: no privilege escalation`)
      t.same(c.securityContext?.capabilities?.drop, ['ALL'], `${what}: all capabilities dropped`)
      const mounts = (c.volumeMounts ?? []).map((m: { mountPath: string }) => m.mountPath)
      t.ok(mounts.includes('/data') && mounts.includes('/tmp'), `${what}: writable /data and /tmp mounted`)
      const unknown = variables(objects, c).filter((name) => !known.has(name))
      t.same(unknown, [], `${what}: every variable is one src/config.ts reads`)
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef
        if (!ref || ref.optional) continue
        t.ok(find(objects, 'Secret', ref.name)?.stringData?.[ref.key] !== undefined, `${what}: ${e.name} comes from a key the Secret has`)
      }
      const keyFile: string | undefined = (c.env ?? []).find((e: any) => e.name === 'JWT_PRIVATE_KEY_FILE')?.value ??
        find(objects, 'ConfigMap')?.data?.JWT_PRIVATE_KEY_FILE
      if (keyFile && workload.kind === 'Deployment') {
        const mount = c.volumeMounts.find((m: { mountPath: string }) => keyFile.startsWith(`${m.mountPath}/`))
        const volume = spec.volumes.find((v: { name: string }) => v.name === mount?.name)
        t.ok(volume?.secret?.items?.some((i: { path: string }) => keyFile.endsWith(`/${i.path}`)), `${what}: JWT_PRIVATE_KEY_FILE (${keyFile}) is mounted from the Secret`)
      }
    }
  }
}

const kubectl = spawnSync('sh', ['-c', 'command -v kubectl']).status === 0

t.test('the kustomize base and the SQLite overlay render, and every object validates', async (t) => {
  if (!kubectl) return unavailable(t, 'kubectl', 'apt-get install kubernetes-client (npm run test:container installs it)')
  for (const dir of ['deploy/kubernetes/base', 'deploy/kubernetes/overlays/sqlite']) {
    const objects = render(dir)
    t.ok(objects.length > 0, `${dir}: ${objects.map((o) => o.kind).join(', ')}`)
    for (const obj of objects) {
      await t.resolves(validate(obj), `${dir}: ${obj.kind} ${obj.metadata.name} validates`)
      t.equal(obj.metadata.labels?.['app.kubernetes.io/name'], 'ecommerce-api', `${obj.kind} ${obj.metadata.name} is labelled`)
    }
  }
})

t.test('base: PostgreSQL, two replicas, probes, resources, disruption budget, autoscaler', async (t) => {
  if (!kubectl) return unavailable(t, 'kubectl', 'apt-get install kubernetes-client')
  const objects = render('deploy/kubernetes/base')
  t.same(objects.map((o) => o.kind).sort(),
    ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'Job', 'PodDisruptionBudget', 'Secret', 'Service'])
  const deployment = find(objects, 'Deployment')!
  t.equal(deployment.spec.replicas, 2, 'two replicas')
  t.equal(deployment.spec.strategy.rollingUpdate.maxUnavailable, 0, 'rolling update never goes below the replicas')
  checkWorkloads(t, objects)

  const container = podSpec(deployment).containers[0]
  const env = variables(objects, container)
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'SMTP_URL', 'JWT_PRIVATE_KEY_FILE']) t.ok(env.includes(name), `the pods get ${name}`)
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'SMTP_URL']) {
    t.ok(container.env.find((e: any) => e.name === name)?.valueFrom?.secretKeyRef, `${name} comes from the Secret`)
    t.notOk(find(objects, 'ConfigMap')!.data[name], `${name} is not in the ConfigMap`)
  }

  // Resources from the measurement, not guessed.
  const { requests, limits } = container.resources
  t.ok(bytes(requests.memory) >= MEASURED_PEAK_RSS, `memory request ${requests.memory} ≥ the measured peak RSS (155 MB)`)
  t.ok(bytes(limits.memory) > bytes(requests.memory), `memory limit ${limits.memory} above the request`)
  t.ok(requests.cpu, `cpu request ${requests.cpu} (the HPA's base)`)

  // Shutdown: preStop, then close-with-grace's delay, all inside the grace period.
  const preStop = Number(container.lifecycle?.preStop?.exec?.command?.[1] ?? 0)
  const grace = podSpec(deployment).terminationGracePeriodSeconds
  const shutdown = shutdownMs(find(objects, 'ConfigMap')!.data)
  t.ok(Number.isFinite(shutdown), `src/server.ts gives the shutdown at most ${shutdown} ms`)
  t.ok(grace >= preStop + shutdown / 1000, `terminationGracePeriodSeconds ${grace} ≥ preStop ${preStop} s + shutdown ${shutdown / 1000} s`)

  const labels = deployment.spec.template.metadata.labels
  const selects = (selector: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v)
  t.same(deployment.spec.selector.matchLabels, Object.fromEntries(Object.entries(labels).filter(([k]) => k in deployment.spec.selector.matchLabels)))
  t.ok(selects(find(objects, 'Service')!.spec.selector), 'the Service selects the pods')
  t.ok(selects(find(objects, 'PodDisruptionBudget')!.spec.selector.matchLabels), 'the PodDisruptionBudget selects the pods')
  t.ok(find(objects, 'PodDisruptionBudget')!.spec.minAvailable < deployment.spec.replicas, 'the budget leaves a pod to evict')
  const hpa = find(objects, 'HorizontalPodAutoscaler')!
  t.same(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name }, 'the HPA scales the Deployment')
  t.ok(hpa.spec.minReplicas >= 2 && hpa.spec.maxReplicas > hpa.spec.minReplicas, `HPA ${hpa.spec.minReplicas}–${hpa.spec.maxReplicas}`)
  const job = find(objects, 'Job')!
  t.same(podSpec(job).containers[0].command, ['node', 'dist/src/cli/migrate.js'], 'the Job runs the compiled migration command')
  t.equal(podSpec(job).containers[0].image, container.image, 'with the Deployment\'s image')
})

t.test('the probes ask routes that answer 200, on the port the service listens on', async (t) => {
  if (!kubectl) return unavailable(t, 'kubectl', 'apt-get install kubernetes-client')
  const app = await build(t)
  for (const dir of ['deploy/kubernetes/base', 'deploy/kubernetes/overlays/sqlite']) {
    const objects = render(dir)
    const deployment = find(objects, 'Deployment')!
    const container = podSpec(deployment).containers[0]
    const config = find(objects, 'ConfigMap')!.data
    const port = Number(config.PORT ?? EnvSchema.properties.PORT.default)
    const http = container.ports.find((p: { name: string }) => p.name === 'http')
    t.equal(http.containerPort, port, `${dir}: containerPort ${http.containerPort} is PORT`)
    t.equal(config.HOST, '0.0.0.0', `${dir}: HOST=0.0.0.0, so the kubelet reaches it`)
    t.equal(find(objects, 'Service')!.spec.ports[0].targetPort, 'http', `${dir}: the Service targets that port`)
    for (const kind of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      const probe = container[kind]?.httpGet
      t.ok(probe, `${dir}: ${kind}`)
      if (!probe) continue
      t.ok(probe.port === 'http' || probe.port === port, `${dir}: ${kind} on the service's port`)
      const res = await app.inject({ method: 'GET', url: probe.path })
      t.equal(res.statusCode, 200, `${dir}: ${kind} ${probe.path} answers 200`)
    }
    t.equal(container.livenessProbe.httpGet.path, '/health/live', 'liveness asks the process only (a database outage must not restart pods)')
    t.equal(container.readinessProbe.httpGet.path, '/health/ready', 'readiness asks the database')
  }
})

t.test('SQLite overlay: one replica, Recreate, a PersistentVolumeClaim on /data, no PostgreSQL', async (t) => {
  if (!kubectl) return unavailable(t, 'kubectl', 'apt-get install kubernetes-client')
  const objects = render('deploy/kubernetes/overlays/sqlite')
  t.same(objects.map((o) => o.kind).sort(), ['ConfigMap', 'Deployment', 'PersistentVolumeClaim', 'Secret', 'Service'])
  const deployment = find(objects, 'Deployment')!
  t.equal(deployment.spec.replicas, 1, 'one replica: SQLite has one writer')
  t.same(deployment.spec.strategy, { type: 'Recreate' }, 'Recreate: the old pod stops before the new one opens the database')
  checkWorkloads(t, objects)
  const spec = podSpec(deployment)
  const data = spec.volumes.find((v: { name: string }) => v.name === spec.containers[0].volumeMounts.find((m: any) => m.mountPath === '/data').name)
  t.equal(data.persistentVolumeClaim?.claimName, find(objects, 'PersistentVolumeClaim')!.metadata.name, '/data is the claim')
  const env = variables(objects, spec.containers[0])
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'JWT_PRIVATE_KEY_FILE']) t.notOk(env.includes(name), `no ${name}`)
  t.same(Object.keys(find(objects, 'Secret')!.stringData ?? {}), ['SMTP_URL'], 'the Secret keeps SMTP_URL only')
})

t.test('compose.yaml: its services, variables and the image it builds', async (t) => {
  const compose = parse(fs.readFileSync(new URL('../../compose.yaml', import.meta.url), 'utf8'), { merge: true })
  const services = compose.services as Record<string, any>
  t.same(Object.keys(services).sort(), ['api1', 'api2', 'keygen', 'lb', 'mailpit', 'migrate', 'postgres', 'redis'])
  const app = ['api1', 'api2', 'migrate', 'keygen']
  for (const name of app) {
    const s = services[name]
    t.equal(s.build, '.', `${name} builds the Dockerfile at the root`)
    t.equal(s.image, 'ecommerce-api:local', `${name} runs that image`)
    t.same(Object.keys(s.environment).filter((v) => !known.has(v)), [], `${name}: every variable is one src/config.ts reads`)
    t.equal(s.read_only, true, `${name}: read-only root, as in Kubernetes`)
  }
  t.ok(fs.existsSync(new URL('../../Dockerfile', import.meta.url)), 'the Dockerfile is there')
  t.equal(services.postgres.image, 'postgres:15', 'PostgreSQL 15')
  t.match(services.mailpit.image, /^axllent\/mailpit/, 'Mailpit catches the e-mails')
  t.match(services.redis.image, /^redis:/)
  t.same(services.migrate.command, ['node', 'dist/src/cli/migrate.js'], 'migrations once, with the compiled command')
  for (const name of ['api1', 'api2']) {
    const s = services[name]
    t.equal(s.environment.DATABASE_URL, services.migrate.environment.DATABASE_URL, `${name} and migrate share the database`)
    t.equal(s.depends_on.migrate.condition, 'service_completed_successfully', `${name} starts after the migrations`)
    t.equal(s.depends_on.keygen.condition, 'service_completed_successfully', `${name} starts after the key exists`)
    t.ok(s.volumes.includes(`keys:${s.environment.JWT_PRIVATE_KEY_FILE.replace(/\/[^/]+$/, '')}:ro`), `${name} reads the shared key read-only`)
    t.ok(s.stop_grace_period && parseInt(s.stop_grace_period) >= shutdownMs(s.environment) / 1000, `${name}: stop_grace_period covers the shutdown`)
    t.match(services.lb.command.join(' '), new RegExp(`--to ${name}:3000`), `the load balancer sends to ${name}`)
  }
  t.match(services.keygen.command.at(-1), /\/data\/signing-key\.pem/, 'keygen writes the key into the keys volume')
  t.ok(services.keygen.volumes.includes('keys:/data'), 'mounted where the image\'s /data (uid 1000) gives the volume its owner')
  for (const [name, s] of Object.entries(services)) {
    for (const port of s.ports ?? []) t.match(port, /^127\.0\.0\.1:/, `${name} publishes ${port} on 127.0.0.1 only`)
  }
  t.same(Object.keys(compose.volumes).sort(), ['keys', 'postgres'])
})
