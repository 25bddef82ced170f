import { z } from 'zod';
import { componentsSchema } from './components.js';
import { loadBalancerSchema, policiesSchema, policiesSeedSchema } from './policies-schema.js';

/**
 * The shape of `emulator.config.json`. This is the only place that describes it:
 * the loader validates against it and `scripts/write-schema.js` turns it into the
 * JSON Schema that editors use through `"$schema"`.
 */

const port = z.number().int().min(1).max(65535);

// Douyin service ids become DNS labels in `{from}-{to}.inner-call.dyc.ivolces.com`.
export const SERVICE_ID_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

const dockerSchema = z
  .strictObject({
    dockerfile: z.string().min(1).optional().describe('Dockerfile path relative to `dir` (default: Dockerfile).'),
    image: z.string().min(1).optional().describe('Use this image instead of building `dir`.'),
    buildArgs: z.record(z.string(), z.string()).optional().describe('Build arguments passed to the image build.'),
  })
  .describe('Run as a container: build `dir` with its Dockerfile, or use `image`.');

export const serviceSchema = z
  .strictObject({
    id: z
      .string()
      .regex(SERVICE_ID_PATTERN)
      .optional()
      .describe('Douyin service id used in inner-call names (`{fromId}-{toId}.inner-call.dyc.ivolces.com`). Default: the service name.'),
    dir: z
      .string()
      .min(1)
      .optional()
      .describe('Working directory (and docker build context), relative to the config file. Default: the config file’s directory.'),
    command: z.string().min(1).optional().describe('Shell command that starts the service: present means the process runtime.'),
    docker: dockerSchema.optional(),
    port: port
      .optional()
      .describe(
        'Port the service listens on. Process runtime: default is a free port chosen by the emulator, passed as PORT. Docker: container port, default 8000.',
      ),
    publishedPort: port
      .optional()
      .describe(
        'The service’s stable address on 127.0.0.1 for calls from outside (curl, Postman, the simulator): the emulator listens on it and forwards to the current instance, across reloads and restarts (docker compose’s published port). Default: a free port chosen at start.',
      ),
    env: z.record(z.string(), z.string()).optional().describe('Extra environment variables.'),
    envFile: z.string().min(1).optional().describe('A dotenv file (KEY=value lines), relative to `dir`.'),
    allow: z
      .array(z.string().min(1))
      .optional()
      .describe('Services (names or ids) this service may call: the 访问控制 → 服务间调用 checkboxes in the console.'),
    watch: z
      .union([z.boolean(), z.array(z.string().min(1))])
      .optional()
      .describe(
        'Hot-reload globs relative to `dir` ("!glob" excludes; [] watches nothing). Default (or true): all of `dir` except node_modules, .git, build outputs and editor side files; a glob that names one of those folders (e.g. "build/**") watches it. false disables.',
      ),
    healthcheck: z.string().startsWith('/').optional().describe('Liveness path probed with GET; 200 and 404 count as alive. Default /v1/ping.'),
    replicas: z
      .number()
      .int()
      .min(1)
      .max(16)
      .optional()
      .describe('Number of instances; calls are spread by `loadBalancer` (round-robin by default). Default 1.'),
    url: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Answered by a server that does not run here: inner calls go to this http(s) base URL (path appended, Host set to its host). Instead of command/docker.',
      ),
    targets: z
      .array(
        z.strictObject({
          url: z.string().min(1).describe('http(s) base URL of one server.'),
          weight: z.number().int().min(1).max(1000).optional().describe('Share of calls under loadBalancer.algorithm "weighted". Default 1.'),
          fallback: z.boolean().optional().describe('Gets calls only when no other target is in the rotation. At most one.'),
        }),
      )
      .min(1)
      .optional()
      .describe('Answered by several servers that do not run here, behind the load balancer. Instead of command/docker.'),
    stub: z
      .union([
        z.string().min(1),
        z.strictObject({
          dir: z.string().min(1).describe('Folder with mappings/ and __files/, relative to the config file.'),
          record: z.string().min(1).optional().describe('Record mode: unmatched requests go to this http(s) URL and are saved as mappings.'),
        }),
      ])
      .optional()
      .describe('Answered by the emulator from WireMock-format mapping files in this folder (relative to the config file). Instead of command/docker.'),
    tls: z
      .strictObject({
        ca: z.string().min(1).optional().describe('PEM file (relative to the config file) with the CA that signed the remote server’s certificate.'),
        insecure: z.boolean().optional().describe('Accept any certificate. Default false.'),
      })
      .optional()
      .describe('TLS to the servers of a url, targets or stub { record } service.'),
    loadBalancer: loadBalancerSchema.optional(),
    startTimeout: z
      .number()
      .positive()
      .max(600)
      .optional()
      .describe('Seconds a new instance has to pass its health check (the platform’s cold start timeout). Default 30.'),
  })
  .describe('One Douyin Cloud service of the mini-program.');

const entryUserSchema = z
  .strictObject({
    openid: z.string().min(1).optional().describe('X-TT-OPENID: the user’s openid in this mini-program (a logged-in user).'),
    unionid: z.string().min(1).optional().describe('X-TT-UNIONID: the user’s id across the developer’s mini-programs (logged-in users only).'),
    anonymousOpenid: z
      .string()
      .min(1)
      .optional()
      .describe('X-TT-ANONYMOUS-OPENID. Alone (no openid): an anonymous login, the service gets only this identity header.'),
  })
  .describe('A mini-program user the entry can act as: openid (logged in) or anonymousOpenid (anonymous login), or both.');

export const entrySchema = z
  .strictObject({
    port: port.optional().describe('Port of the entry (the cloud gateway that callContainer reaches) on 127.0.0.1. Default 8090.'),
    service: z
      .string()
      .min(1)
      .optional()
      .describe('Service (name or id) a request goes to when it names none with X-Emulator-Service. Default: the first service.'),
    appId: z.string().min(1).optional().describe('X-TT-APPID: the mini-program’s AppID. Default "tt0000000000000000".'),
    envId: z
      .string()
      .min(1)
      .optional()
      .describe(
        'X-TT-ENV: the cloud environment id (the envID passed to tt.createCloud). When set, a client that sends another envID is refused. Default: the client’s envID, else "env-local".',
      ),
    source: z.string().min(1).optional().describe('X-TT-SOURCE: what triggered the call (undocumented by the platform). Default "callContainer".'),
    users: z
      .record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/), entryUserSchema)
      .optional()
      .describe('Users the mini-program can act as, by name; the first is the default, X-Emulator-User picks another. Default: one generated user.'),
  })
  .describe('The entry: requests from the mini-program (tt.createCloud().callContainer), with the caller’s identity headers.');

export const configSchema = z
  .strictObject({
    $schema: z.string().optional(),
    services: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/), serviceSchema).describe('The services of the mini-program, by name.'),
    cloudEnv: z.enum(['DEV', 'PROD']).optional().describe('Value of CLOUD_ENV in every service. Default DEV.'),
    proxy: z
      .strictObject({
        port: port.optional().describe('Port of the routing proxy on 127.0.0.1. Default 8080.'),
        callTimeout: z.number().positive().max(3600).optional().describe('Seconds before a call without a response gets 504 upstream_timeout. Default 60.'),
      })
      .optional(),
    watchOptions: z
      .strictObject({
        polling: z
          .boolean()
          .optional()
          .describe(
            'Poll for changes instead of file-system events (WSL, network mounts, some Docker Desktop mounts). Also: EMULATOR_WATCH_POLLING=1. Default false.',
          ),
        interval: z.number().int().min(10).max(60_000).optional().describe('Poll interval in ms. Default 100.'),
        debounce: z.number().int().min(0).max(10_000).optional().describe('Quiet period in ms after the last change before a reload. Default 100.'),
      })
      .optional()
      .describe('How hot reload watches files.'),
    dashboard: z
      .union([
        z.literal(false),
        z.strictObject({
          port: port.optional().describe('Port of the dashboard on 127.0.0.1 (a free one if it is taken). Default 8070.'),
        }),
      ])
      .optional()
      .describe('The web dashboard `emulator up` serves (services, calls, access, logs); false turns it off, as --no-dashboard does.'),
    entry: entrySchema.optional(),
    policies: policiesSchema.optional(),
    policiesSeed: policiesSeedSchema.optional(),
    dns: z
      .strictObject({
        port: port
          .optional()
          .describe('Port of the DNS server on 127.0.0.1 (UDP and TCP). Default 8053; when unset and 8053 is in use, `up` takes a free port and says so.'),
        upstream: z
          .array(z.string().min(1))
          .optional()
          .describe('Resolvers (`ip` or `ip:port`) for names outside the inner-call domains. Default: the nameservers of /etc/resolv.conf.'),
      })
      .optional(),
    components: componentsSchema.optional(),
  })
  .describe('dyc-emulator configuration: https://github.com/dyc-emulator/dyc-emulator#configuration');

export type ConfigFile = z.infer<typeof configSchema>;
export type ServiceEntry = z.infer<typeof serviceSchema>;
export type EntryEntry = z.infer<typeof entrySchema>;
