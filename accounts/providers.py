"""The LLM providers pi knows and the environment variable each one reads its key from.

From pi 1.6's docs/providers.md (1.0.3 renamed ``azure-openai-responses`` to ``azure``;
migration accounts 0004 moves stored keys and defaults). The keys never reach pi: the model
gateway adds them to each call (gateway/); the variable names are pi's, kept as the list of
the providers a key can be saved for.
"""

from __future__ import annotations

PROVIDER_ENV_VARS: dict[str, str] = {
    "anthropic": "ANTHROPIC_API_KEY",
    "openai": "OPENAI_API_KEY",
    "google": "GEMINI_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "groq": "GROQ_API_KEY",
    "cerebras": "CEREBRAS_API_KEY",
    "xai": "XAI_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "vercel-ai-gateway": "AI_GATEWAY_API_KEY",
    "zai": "ZAI_API_KEY",
    "fireworks": "FIREWORKS_API_KEY",
    "kimi-coding": "KIMI_API_KEY",
    "minimax": "MINIMAX_API_KEY",
    "azure": "AZURE_OPENAI_API_KEY",
}

PROVIDER_LABELS: dict[str, str] = {
    "anthropic": "Anthropic",
    "openai": "OpenAI",
    "google": "Google Gemini",
    "deepseek": "DeepSeek",
    "mistral": "Mistral",
    "groq": "Groq",
    "cerebras": "Cerebras",
    "xai": "xAI",
    "openrouter": "OpenRouter",
    "vercel-ai-gateway": "Vercel AI Gateway",
    "zai": "ZAI",
    "fireworks": "Fireworks",
    "kimi-coding": "Kimi For Coding",
    "minimax": "MiniMax",
    "azure": "Azure OpenAI",
}


def provider_choices() -> list[tuple[str, str]]:
    return [(name, PROVIDER_LABELS[name]) for name in PROVIDER_ENV_VARS]
