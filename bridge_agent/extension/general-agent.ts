/**
 * The general agent's tools: reach into all of the user's projects through the control
 * plane's REST API (seed section 9).
 *
 * Loaded in addition to the starter extension, only in the user's general-agent Sprite.
 * Every call carries STARTER_API_TOKEN, a token that belongs to this user alone and has
 * the `general_agent` scope, so the agent can never see another user's projects and
 * revoking the token cuts it off. STARTER_API_URL is the control plane's base URL.
 *
 * Projects are named by their public id or their name; an unknown or ambiguous name is a
 * tool error that tells the model what to do instead.
 */
import { Type } from "typebox";
import type { ExtensionAPI } from "@earendil-works/pi-coding-agent";

const API_URL = (process.env.STARTER_API_URL ?? "http://127.0.0.1:8000").replace(/\/+$/, "");
const OUTPUT_LIMIT = 20_000;

type ProjectSummary = {
	id: string;
	name: string;
	status: string;
	description: string;
	url?: string;
};

class ToolError extends Error {}

async function api(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<any> {
	const token = process.env.STARTER_API_TOKEN;
	if (!token) {
		throw new ToolError(
			"The general agent has no access token. Ask the user to renew its access from the dashboard's home screen.",
		);
	}
	let response: Response;
	try {
		response = await fetch(`${API_URL}/api/v1${path}`, {
			method,
			headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
			body: body === undefined ? undefined : JSON.stringify(body),
			signal,
		});
	} catch (error) {
		throw new ToolError(`The Starter control plane is not reachable (${String(error)}). Try again shortly.`);
	}
	const text = await response.text();
	let payload: any = null;
	try {
		payload = text ? JSON.parse(text) : null;
	} catch {
		payload = null;
	}
	if (response.status === 401) {
		throw new ToolError(
			"Access denied: the general agent's token was revoked or expired. Ask the user to renew the general agent's access from the dashboard's home screen.",
		);
	}
	if (response.status === 404) {
		throw new ToolError("no such project (or no such file). Call list_projects to see the projects you can use.");
	}
	if (!response.ok) {
		const message = payload?.message ?? `HTTP ${response.status}`;
		throw new ToolError(`The control plane refused: ${message}`);
	}
	return payload;
}

async function listProjects(signal?: AbortSignal): Promise<ProjectSummary[]> {
	const page = await api("GET", "/projects?limit=100", undefined, signal);
	return (page?.items ?? []).map((item: any) => ({
		id: item.id ?? item.public_id,
		name: item.name,
		status: item.status,
		description: item.description ?? "",
	}));
}

async function resolveProject(reference: string, signal?: AbortSignal): Promise<ProjectSummary> {
	const wanted = reference.trim();
	const projects = await listProjects(signal);
	const byId = projects.find((project) => project.id === wanted);
	if (byId) return byId;
	const byName = projects.filter((project) => project.name.toLowerCase() === wanted.toLowerCase());
	if (byName.length === 1) return byName[0];
	if (byName.length > 1) {
		const ids = byName.map((project) => `${project.name} (${project.id})`).join(", ");
		throw new ToolError(`"${reference}" is ambiguous: ${ids}. Call the tool again with the project's id.`);
	}
	// Not one of this user's projects: an id of someone else's project lands here too.
	throw new ToolError(`no such project: "${reference}". Call list_projects to see the projects you can use.`);
}

function clip(text: string): string {
	return text.length > OUTPUT_LIMIT ? `${text.slice(0, OUTPUT_LIMIT)}\n… (cut at ${OUTPUT_LIMIT} characters)` : text;
}

function touched(project: ProjectSummary) {
	return { project: { id: project.id, name: project.name, url: `${API_URL}/p/${project.id}/` } };
}

const projectParameter = Type.String({ description: "The project's name or id (from list_projects)" });

export default function generalAgentExtension(pi: ExtensionAPI): void {
	pi.on("before_agent_start", (event) => ({
		systemPrompt: `${event.systemPrompt}\n\n## You are the user's general agent\nYou are not scoped to one project. Use list_projects, search_projects, sprite_read, sprite_exec, sprite_write and create_project to work across all of the user's Starter projects. Each project is its own machine with its own files; paths are relative to the project's home. Name projects by id when names are ambiguous.`,
	}));

	pi.registerTool({
		name: "list_projects",
		label: "List projects",
		description: "List all of the user's Starter projects with id, name, status and description.",
		parameters: Type.Object({}),
		async execute(_id, _params, signal) {
			const projects = await listProjects(signal);
			const lines = projects.map(
				(project) => `- ${project.name} (id ${project.id}, ${project.status})${project.description ? `: ${project.description}` : ""}`,
			);
			return {
				content: [{ type: "text", text: lines.length ? lines.join("\n") : "The user has no projects yet." }],
				details: { projects },
			};
		},
	});

	pi.registerTool({
		name: "sprite_exec",
		label: "Run in a project",
		description: "Run a shell command in a project's machine (in its home directory) and return exit code, stdout and stderr.",
		parameters: Type.Object({ project: projectParameter, command: Type.String({ description: "A bash command" }) }),
		async execute(_id, params, signal) {
			const project = await resolveProject(params.project, signal);
			const result = await api("POST", `/projects/${project.id}/exec`, { command: params.command, timeout: 120 }, signal);
			const text = `exit code ${result.exit_code}${result.timed_out ? " (timed out)" : ""}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
			return { content: [{ type: "text", text: clip(text) }], details: { ...touched(project), write: true, exit_code: result.exit_code } };
		},
	});

	pi.registerTool({
		name: "sprite_read",
		label: "Read from a project",
		description: "Read a text file from a project's machine (path relative to its home).",
		parameters: Type.Object({ project: projectParameter, path: Type.String() }),
		async execute(_id, params, signal) {
			const project = await resolveProject(params.project, signal);
			const query = new URLSearchParams({ path: params.path });
			const file = await api("GET", `/projects/${project.id}/files/content?${query}`, undefined, signal);
			const text = file.encoding === "text" ? file.content : `(binary file, ${file.size} bytes, base64)\n${file.content}`;
			return { content: [{ type: "text", text: clip(text) }], details: { ...touched(project), path: params.path } };
		},
	});

	pi.registerTool({
		name: "sprite_write",
		label: "Write to a project",
		description: "Create or replace a text file in a project's machine (path relative to its home).",
		parameters: Type.Object({ project: projectParameter, path: Type.String(), content: Type.String() }),
		async execute(_id, params, signal) {
			const project = await resolveProject(params.project, signal);
			const written = await api(
				"PUT",
				`/projects/${project.id}/files/content`,
				{ path: params.path, content: params.content, encoding: "text" },
				signal,
			);
			return {
				content: [{ type: "text", text: `Wrote ${written.size} bytes to ${params.path} in ${project.name}.` }],
				details: { ...touched(project), write: true, path: params.path },
			};
		},
	});

	pi.registerTool({
		name: "create_project",
		label: "Create a project",
		description: "Create a new Starter project (its machine starts in the background).",
		parameters: Type.Object({ name: Type.String(), description: Type.Optional(Type.String()) }),
		async execute(_id, params, signal) {
			const created = await api("POST", "/projects", { name: params.name, description: params.description ?? "" }, signal);
			const project = { id: created.id ?? created.public_id, name: created.name, status: created.status, description: created.description ?? "" };
			return {
				content: [{ type: "text", text: `Created project ${project.name} (id ${project.id}); its machine is starting.` }],
				details: { ...touched(project), write: true },
			};
		},
	});

	pi.registerTool({
		name: "search_projects",
		label: "Search projects",
		description: "Search the files of all of the user's running projects for a text (case-insensitive grep).",
		parameters: Type.Object({ query: Type.String({ description: "Text to look for" }) }),
		async execute(_id, params, signal) {
			const projects = (await listProjects(signal)).filter((project) => project.status === "running");
			const quoted = `'${params.query.replace(/'/g, `'\\''`)}'`;
			const command = `grep -rIin --exclude-dir=.pi --exclude-dir=.starter --exclude-dir=node_modules --exclude-dir=.git -m 3 -- ${quoted} . | head -n 40`;
			const sections: string[] = [];
			const matches: Record<string, string> = {};
			for (const project of projects) {
				try {
					const result = await api("POST", `/projects/${project.id}/exec`, { command, timeout: 60 }, signal);
					if (result.stdout.trim()) {
						matches[project.id] = result.stdout;
						sections.push(`## ${project.name} (id ${project.id})\n${result.stdout.trim()}`);
					}
				} catch (error) {
					sections.push(`## ${project.name} (id ${project.id})\n(search failed: ${(error as Error).message})`);
				}
			}
			const text = sections.length ? sections.join("\n\n") : `Nothing matching "${params.query}" in ${projects.length} running project(s).`;
			return { content: [{ type: "text", text: clip(text) }], details: { matches, searched: projects.map((p) => p.id) } };
		},
	});
}
