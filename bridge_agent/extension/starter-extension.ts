/**
 * The Starter extension, loaded by the bridge with `pi --no-extensions -e <this file>`.
 *
 * - `notify_dashboard` tool: tells the dashboard something (a `notify` event).
 * - `request_secret` tool: asks the user for a secret through the dashboard (a
 *   `secret_requested` event). The value never passes through the conversation: the
 *   dashboard stores it and it reaches new sessions as an environment variable.
 * - Service tools (`start_service`, `stop_service`, `restart_service`, `list_services`,
 *   `service_logs`): long-running servers, workers and cron jobs that the bridge supervises
 *   (bridge_agent/services/), over the unix socket in $STARTER_SERVICES_SOCKET. The same
 *   operations are the `starter-service` command in the agent's shell.
 * - App-port detection: dev-server lines in tool output ("Listening on port 3000",
 *   "Local: http://localhost:5173/", "Uvicorn running on http://0.0.0.0:8000", …) retarget
 *   the bridge's reverse proxy (an `app_port` event).
 * - System-prompt context: the Sprite, the app port, the inspect DB schema, the secret NAMES,
 *   and where prompt templates and skills go (the dashboard offers them as `/` commands).
 * - `/starter-reload-resources` command: re-reads prompt templates and skills (pi's `/reload`,
 *   which RPC mode lacks); the bridge sends it when their files changed and pi is idle, and
 *   hides it from the command list.
 * - `/starter-branch <entryId>` command: moves the session to another point of its tree
 *   (pi has no RPC command for that; the bridge sends this as a `prompt`, see
 *   bridge_agent/branches.py).
 * - Session attribution: every model call carries the session's id in `x-starter-session`,
 *   so the model gateway's ledger knows which session a call belongs to. Every provider of
 *   a Sprite is the gateway (gateway/pi_config.py), which strips `x-starter-*` headers
 *   before forwarding. Only attribution: the gateway trusts nothing else of it.
 *
 * Talking to the bridge: in RPC mode `ctx.ui.setStatus(key, text)` becomes one
 * fire-and-forget stdout line, `{"type":"extension_ui_request","method":"setStatus",
 * "statusKey":"starter-bridge","statusText":"<json>"}`. The bridge already reads pi's stdout,
 * so this needs no port, no token, and cannot block or fail the agent. The JSON's `type` is
 * the bridge event type (`notify`, `app_port`, `secret_requested`).
 *
 * Everything the bridge wants the agent to know arrives in the environment:
 * STARTER_APP_PORT, STARTER_BRIDGE_PORT, STARTER_INSPECT_DB, STARTER_INSPECT_SCHEMA,
 * STARTER_INSPECT_NOTES, STARTER_SECRET_NAMES (comma/space separated or a JSON array),
 * STARTER_SERVICES_SOCKET.
 */
import { request as httpRequest } from "node:http";
import { Type } from "typebox";
import type { ExtensionAPI, ExtensionContext } from "@earendil-works/pi-coding-agent";

const STATUS_KEY = "starter-bridge";
// bridge_agent/slash_commands.py RELOAD_COMMAND
const RELOAD_COMMAND = "starter-reload-resources";
// The command the bridge sends to switch branches, and the custom entry it leaves behind.
const BRANCH_COMMAND = "starter-branch";
// bridge_agent/protocol.py GATEWAY_SESSION_HEADER
const GATEWAY_SESSION_HEADER = "x-starter-session";

type BridgeMessage =
	| { type: "notify"; message: string; level: string; refresh_iframe: boolean }
	| { type: "app_port"; port: number; line: string; tool: string }
	| { type: "secret_requested"; name: string; reason: string };

function tellBridge(ctx: ExtensionContext, message: BridgeMessage): void {
	ctx.ui.setStatus(STATUS_KEY, JSON.stringify(message));
}

// Each pattern's first group is the port. Ordered from specific to generic.
const PORT_PATTERNS: RegExp[] = [
	/Local:\s+https?:\/\/[^\s:/]+:(\d{2,5})/i, // Vite, Astro, SvelteKit
	/Uvicorn running on https?:\/\/[^\s:/]+:(\d{2,5})/i,
	/Starting development server at https?:\/\/[^\s:/]+:(\d{2,5})/i, // Django runserver
	/Running on https?:\/\/[^\s:/]+:(\d{2,5})/i, // Flask, Werkzeug
	/Listening at:? https?:\/\/[^\s:/]+:(\d{2,5})/i, // Gunicorn
	/started server on [^\s,]*?:(\d{2,5})/i, // Next.js (older)
	/ready[^\n]*?https?:\/\/(?:localhost|127\.0\.0\.1|0\.0\.0\.0|\[::\]):(\d{2,5})/i, // Next.js
	/Server (?:is )?(?:running|listening|started) (?:at|on) https?:\/\/[^\s:/]+:(\d{2,5})/i,
	/Serving (?:HTTP )?on [^\s]*? port (\d{2,5})/i, // python -m http.server
	/Listening on (?:port )?(?:https?:\/\/)?(?:(?:[\w.-]+|\[[^\]]*\]):)?(\d{2,5})\b/i, // Express, Bun, Go
	/(?:App|Application|Server) (?:is )?(?:running|listening) on port (\d{2,5})/i,
];

export function detectAppPort(text: string, bridgePort: number | undefined): { port: number; line: string } | undefined {
	for (const rawLine of text.split("\n")) {
		const line = rawLine.replace(/\x1b\[[0-9;]*m/g, ""); // strip terminal colours
		for (const pattern of PORT_PATTERNS) {
			const match = pattern.exec(line);
			if (!match) continue;
			const port = Number(match[1]);
			if (port >= 1 && port <= 65535 && port !== bridgePort) {
				return { port, line: line.trim().slice(0, 200) };
			}
		}
	}
	return undefined;
}

function secretNames(): string[] {
	const raw = (process.env.STARTER_SECRET_NAMES ?? "").trim();
	if (!raw) return [];
	if (raw.startsWith("[")) {
		try {
			const parsed = JSON.parse(raw);
			if (Array.isArray(parsed)) return parsed.filter((n) => typeof n === "string");
		} catch {
			// fall through to the plain list
		}
	}
	return raw.split(/[\s,]+/).filter(Boolean);
}

class ServiceToolError extends Error {}

// One call to the bridge's service endpoints (bridge_agent/protocol.py SERVICES_PATH) over
// the unix socket in the home; a refusal's message is the bridge's, meant for the model.
function servicesCall(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<any> {
	const socketPath = process.env.STARTER_SERVICES_SOCKET;
	if (!socketPath) {
		return Promise.reject(new ServiceToolError("STARTER_SERVICES_SOCKET is not set; services are not available here."));
	}
	const payload = body === undefined ? undefined : JSON.stringify(body);
	return new Promise((resolve, reject) => {
		const request = httpRequest(
			{
				socketPath,
				path,
				method,
				signal,
				headers: payload
					? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) }
					: {},
			},
			(response) => {
				const chunks: Buffer[] = [];
				response.on("data", (chunk: Buffer) => chunks.push(chunk));
				response.on("end", () => {
					const text = Buffer.concat(chunks).toString("utf8");
					let data: any = null;
					try {
						data = text ? JSON.parse(text) : null;
					} catch {
						data = null;
					}
					if ((response.statusCode ?? 500) >= 400) {
						reject(new ServiceToolError(data?.message ?? `The bridge answered ${response.statusCode}.`));
					} else {
						resolve(data);
					}
				});
				response.on("error", reject);
			},
		);
		request.on("error", (error) =>
			reject(new ServiceToolError(`The Starter bridge is not reachable (${error.message}); try again shortly.`)),
		);
		if (payload) request.write(payload);
		request.end();
	});
}

type ServiceView = {
	name: string;
	type: string;
	command: string;
	cwd: string;
	port: number | null;
	schedule: string | null;
	status: string;
	pid: number | null;
	restart_count: number;
	next_restart_at: string | null;
	last_exit_code: number | null;
	next_run_at: string | null;
	last_run: { exit_code: number | null; ended_at: string | null; trigger: string } | null;
};

function describeService(service: ServiceView): string {
	const parts = [`${service.name} (${service.type}): ${service.status}`];
	if (service.port) parts.push(`port ${service.port}`);
	if (service.schedule) parts.push(`schedule "${service.schedule}", next run ${service.next_run_at ?? "-"}`);
	if (service.status === "backoff") {
		parts.push(`crashed ${service.restart_count} time(s), last exit ${service.last_exit_code}, restarting at ${service.next_restart_at}`);
	}
	if (service.last_run) parts.push(`last run exit ${service.last_run.exit_code} (${service.last_run.trigger})`);
	parts.push(`command: ${service.command}`, `cwd: ${service.cwd}`);
	return parts.join("; ");
}

function serviceResult(service: ServiceView, lead: string) {
	return { content: [{ type: "text" as const, text: `${lead}\n${describeService(service)}` }], details: { service } };
}

function starterContext(): string {
	const appPort = process.env.STARTER_APP_PORT ?? "3000";
	const inspectDb = process.env.STARTER_INSPECT_DB ?? "inspect.db";
	const schema = process.env.STARTER_INSPECT_SCHEMA ?? "";
	const notes = process.env.STARTER_INSPECT_NOTES ?? "";
	const names = secretNames();
	const agentDir = process.env.PI_CODING_AGENT_DIR ?? "~/.pi/agent";
	const secrets = names.length
		? `These secrets are set as environment variables (use them as $NAME; never print, log or write their values): ${names.join(", ")}.`
		: "No secrets are configured yet.";
	return [
		"## Starter environment",
		"You run inside a Sprite: a private Linux machine that belongs to this project. You may install packages, run servers and keep files here; your working directory is the project's home.",
		"",
		"### Serving apps",
		`Serve web apps on port ${appPort} and bind 0.0.0.0 (e.g. \`npm run dev -- --host 0.0.0.0 --port ${appPort}\`). The dashboard previews whatever listens on that port; every other HTTP service gets a preview of its own port.`,
		"",
		"### Services and cron jobs",
		"Start anything long-running (a web app, an API, a worker, a dev server) with the start_service tool, never with nohup, & or screen: the platform runs it with the project's secrets, restarts it when it crashes, keeps its log, starts it again after the project sleeps and wakes, and shows it in the dashboard. Give HTTP services (type app or api) their `port` (1024-65535); the service also gets it as $PORT. Schedule recurring work as a cron job: start_service with type cron and a schedule (5-field cron in UTC like `*/15 * * * *`, or `every 10m`); its runs and exit codes are kept. Use list_services and service_logs to check on them, restart_service after changing a service's code, stop_service to stop one. Scripts can do the same with the `starter-service` command (`starter-service start NAME --port 3000 -- CMD`, `starter-service list`, `starter-service logs NAME`). Services are recorded in the services table of the inspect database for you; do not write those rows yourself.",
		"",
		"### The inspect database",
		`Keep ${inspectDb} (SQLite) up to date; the dashboard reads it to show what exists. Write to it with plain SQL (sqlite3 CLI or any SQLite library), use short stable text ids, and set updated_at = datetime('now') on updates. Schema:`,
		"```sql",
		schema.trim(),
		"```",
		notes.trim(),
		"",
		"### Talking to the user",
		"Call notify_dashboard when you finish significant work, or when the user must look at something (refreshIframe: true after changing the running app).",
		"",
		`### Secrets\n${secrets} When you need a credential that is not listed, call request_secret with its NAME and why you need it. Never ask the user to paste a secret into the chat.`,
		"",
		"### Slash commands: prompt templates and skills",
		`The user's message box offers prompt templates and skills as / commands. To add a prompt template, write ${agentDir}/prompts/NAME.md (Markdown; optional front matter with \`description:\`; $1, $2, $@ and \${1:-default} take the arguments typed after /NAME). To add a skill, write ${agentDir}/skills/NAME/SKILL.md with front matter \`name: NAME\` (lower-case letters, digits, dashes) and \`description:\` (what it does and when to use it); it becomes /skill:NAME. ~/.agents/skills/NAME/SKILL.md works too. Templates and skills under the home's .pi/prompts or .pi/skills are NOT loaded (pi does not trust project folders there). New or changed ones appear in the user's list the next time they type /.`,
	].join("\n");
}

export default function starterExtension(pi: ExtensionAPI): void {
	const bridgePort = Number(process.env.STARTER_BRIDGE_PORT) || undefined;

	pi.registerTool({
		name: "notify_dashboard",
		label: "Notify dashboard",
		description: "Notify the Starter dashboard. Use when you've completed significant work.",
		promptSnippet: "Send a short notification to the user's Starter dashboard",
		parameters: Type.Object({
			message: Type.String({ description: "What to tell the user, one or two sentences" }),
			type: Type.Optional(
				Type.Union([Type.Literal("info"), Type.Literal("success"), Type.Literal("warning"), Type.Literal("error")]),
			),
			refreshIframe: Type.Optional(Type.Boolean({ description: "Reload the app preview" })),
		}),
		async execute(_toolCallId, params, _signal, _onUpdate, ctx) {
			const level = params.type ?? "info";
			tellBridge(ctx, {
				type: "notify",
				message: params.message,
				level,
				refresh_iframe: Boolean(params.refreshIframe),
			});
			return {
				content: [{ type: "text", text: "The dashboard was notified." }],
				details: { message: params.message, level, refreshIframe: Boolean(params.refreshIframe) },
			};
		},
	});

	pi.registerTool({
		name: "request_secret",
		label: "Request secret",
		description:
			"Ask the user for a secret (API key, password, token) through the Starter dashboard, outside the conversation. The value is never shown to you; it becomes an environment variable named NAME for sessions started after the user saves it.",
		promptSnippet: "Ask the user for a credential through the dashboard (never in chat)",
		promptGuidelines: [
			"Use request_secret instead of asking the user to paste an API key, password or token into the chat.",
		],
		parameters: Type.Object({
			name: Type.String({ description: "Environment variable name, e.g. STRIPE_API_KEY" }),
			reason: Type.String({ description: "Why you need it, shown to the user" }),
		}),
		async execute(_toolCallId, params, _signal, _onUpdate, ctx) {
			const name = params.name.trim().toUpperCase().replace(/[^A-Z0-9_]/g, "_");
			if (!/^[A-Z_][A-Z0-9_]*$/.test(name)) {
				throw new Error(`"${params.name}" cannot be an environment variable name; use letters, digits and _.`);
			}
			tellBridge(ctx, { type: "secret_requested", name, reason: params.reason });
			return {
				content: [
					{
						type: "text",
						text: `The user was asked for ${name} in the dashboard. You will not see the value. Once saved it is available as $${name} in new sessions; continue with other work or tell the user what you are waiting for.`,
					},
				],
				details: { name },
			};
		},
	});

	pi.registerTool({
		name: "start_service",
		label: "Start service",
		description:
			"Start a long-running service (web app, API, worker) or a cron job that the platform supervises: restarted on crash, logged, started again after the project wakes, with the project's secrets in its environment. Calling it again with the same name replaces the definition and restarts it.",
		promptSnippet: "Run a server, worker or cron job under the platform's supervision (not nohup)",
		promptGuidelines: [
			"Use start_service for anything that must keep running or run on a schedule; never background processes with nohup or &.",
		],
		parameters: Type.Object({
			name: Type.String({ description: "Short id: lower-case letters, digits and dashes, e.g. web or nightly-report" }),
			command: Type.String({ description: "Shell command (bash -c) that runs in the foreground, e.g. npm run dev -- --host 0.0.0.0 --port 3000" }),
			cwd: Type.Optional(Type.String({ description: "Working directory inside the home (default: the home)" })),
			port: Type.Optional(Type.Number({ description: "The port an app or api listens on (1024-65535); also given as $PORT" })),
			type: Type.Optional(
				Type.Union([Type.Literal("app"), Type.Literal("api"), Type.Literal("worker"), Type.Literal("cron")], {
					description: "app/api serve HTTP on port; worker runs in the background; cron runs on schedule",
				}),
			),
			schedule: Type.Optional(Type.String({ description: "For cron: 5-field cron in UTC ('0 * * * *') or 'every N s|m|h'" })),
			description: Type.Optional(Type.String({ description: "What it is, shown in the dashboard" })),
		}),
		async execute(_toolCallId, params, signal) {
			const service = await servicesCall("POST", "/starter/services", params, signal);
			const lead = service.type === "cron" ? "The cron job is scheduled." : "The service is starting; check service_logs if it does not come up.";
			return serviceResult(service, lead);
		},
	});

	for (const [toolName, action, label, description] of [
		["stop_service", "stop", "Stop service", "Stop a supervised service or cron job (it stays defined; start it again with start_service or restart_service)."],
		["restart_service", "restart", "Restart service", "Restart a supervised service, e.g. after changing its code."],
	] as const) {
		pi.registerTool({
			name: toolName,
			label,
			description,
			parameters: Type.Object({ name: Type.String({ description: "The service's name" }) }),
			async execute(_toolCallId, params, signal) {
				const service = await servicesCall("POST", `/starter/services/${encodeURIComponent(params.name)}/${action}`, undefined, signal);
				return serviceResult(service, action === "stop" ? "Stopped." : "Restarting.");
			},
		});
	}

	pi.registerTool({
		name: "list_services",
		label: "List services",
		description: "List the project's supervised services and cron jobs with their status.",
		parameters: Type.Object({}),
		async execute(_toolCallId, _params, signal) {
			const data = await servicesCall("GET", "/starter/services", undefined, signal);
			const services: ServiceView[] = data.services;
			const text = services.length ? services.map(describeService).join("\n") : "No services are defined.";
			return { content: [{ type: "text", text }], details: { services } };
		},
	});

	pi.registerTool({
		name: "service_logs",
		label: "Service logs",
		description: "The end of a supervised service's log (its stdout and stderr, and the platform's start/exit lines).",
		parameters: Type.Object({
			name: Type.String({ description: "The service's name" }),
			lines: Type.Optional(Type.Number({ description: "How many lines from the end (default 100, at most 2000)" })),
		}),
		async execute(_toolCallId, params, signal) {
			const lines = Math.max(0, Math.min(2000, Math.floor(params.lines ?? 100)));
			const data = await servicesCall("GET", `/starter/services/${encodeURIComponent(params.name)}/logs?lines=${lines}`, undefined, signal);
			const text = data.lines.length ? data.lines.join("\n") : "(the log is empty)";
			return { content: [{ type: "text", text }], details: { name: params.name, lines: data.lines.length } };
		},
	});

	pi.registerCommand(BRANCH_COMMAND, {
		description: "Starter dashboard: move this session to another point of its tree",
		handler: async (args, ctx) => {
			// Rejects (an extension_error the bridge sees) while a run is going or for an
			// unknown entry; the bridge checks both first and then reads where the leaf is.
			const result = await ctx.navigateTree(args.trim(), { summarize: false });
			if (result.cancelled) return;
			// pi keeps the leaf in memory only and, when it reopens the file, puts it on the
			// last entry written. This entry (context-free) is written at the new leaf, so the
			// chosen branch is still the one shown after pi restarts.
			pi.appendEntry(BRANCH_COMMAND, { target: args.trim() });
		},
	});

	pi.on("tool_result", async (event, ctx) => {
		const text = event.content
			.map((part) => (part.type === "text" ? part.text : ""))
			.join("\n");
		const found = detectAppPort(text, bridgePort);
		if (found) {
			tellBridge(ctx, { type: "app_port", port: found.port, line: found.line, tool: event.toolName });
		}
		return undefined;
	});

	pi.registerCommand(RELOAD_COMMAND, {
		description: "Re-read prompt templates and skills (sent by the Starter bridge)",
		handler: async (_args, ctx) => {
			// pi refuses to reload during a run; the bridge sends this only when idle.
			await ctx.reload();
			return;
		},
	});

	pi.on("before_provider_headers", (event, ctx) => {
		event.headers[GATEWAY_SESSION_HEADER] = ctx.sessionManager.getSessionId();
	});

	pi.on("before_agent_start", async (event) => ({
		systemPrompt: `${event.systemPrompt}\n\n${starterContext()}`,
	}));
}
