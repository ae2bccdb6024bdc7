"""Answers: `service` runs the pipeline (retrieve, select evidence, generate, verify,
repair), `prompts` builds what the LLM reads, `citations` parses its [n] markers,
`evidence` scores source sentences for the question, `verify` keeps only supported
sentences, `links` keeps out of answers the addresses their sources do not hold, and
`web` fetches SearXNG results as separate sources."""
