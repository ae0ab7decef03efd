/**
 * The Starter extension, loaded by the bridge with `pi --no-extensions -e <this file>`.
 *
 * - `notify_dashboard` tool: tells the dashboard something (a `notify` event).
 * - `request_secret` tool: asks the user for a secret through the dashboard (a
 *   `secret_requested` event). The value never passes through the conversation: the
 *   dashboard stores it and it reaches new sessions as an environment variable.
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
 *
 * Talking to the bridge: in RPC mode `ctx.ui.setStatus(key, text)` becomes one
 * fire-and-forget stdout line, `{"type":"extension_ui_request","method":"setStatus",
 * "statusKey":"starter-bridge","statusText":"<json>"}`. The bridge already reads pi's stdout,
 * so this needs no port, no token, and cannot block or fail the agent. The JSON's `type` is
 * the bridge event type (`notify`, `app_port`, `secret_requested`).
 *
 * Everything the bridge wants the agent to know arrives in the environment:
 * STARTER_APP_PORT, STARTER_BRIDGE_PORT, STARTER_INSPECT_DB, STARTER_INSPECT_SCHEMA,
 * STARTER_INSPECT_NOTES, STARTER_SECRET_NAMES (comma/space separated or a JSON array).
 */
import { Type } from "typebox";
import type { ExtensionAPI, ExtensionContext } from "@earendil-works/pi-coding-agent";

const STATUS_KEY = "starter-bridge";
// bridge_agent/slash_commands.py RELOAD_COMMAND
const RELOAD_COMMAND = "starter-reload-resources";
// The command the bridge sends to switch branches, and the custom entry it leaves behind.
const BRANCH_COMMAND = "starter-branch";

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
		`Serve web apps on port ${appPort} and bind 0.0.0.0 (e.g. \`npm run dev -- --host 0.0.0.0 --port ${appPort}\`). The dashboard shows whatever listens on that port. Run long-lived servers in the background (nohup … &> server.log &) so your tool call returns, then check the log. If you must use another port, print the server's usual "Listening on port N" line so the preview follows it.`,
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

	pi.on("before_agent_start", async (event) => ({
		systemPrompt: `${event.systemPrompt}\n\n${starterContext()}`,
	}));
}
