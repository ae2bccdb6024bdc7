"""The judge's prompts, adapted from ragas' (explodinggradients/ragas, v0.2 metrics
`_faithfulness.py`, `_answer_relevance.py`, `_context_precision.py`,
`_context_recall.py`) and ALCE's NLI check (princeton-nlp/ALCE, `eval.py`).

They are shorter than the originals because the CI judge is a 1.5B model, and they
ask one yes/no question per call where ragas batches a JSON list: a single verdict
can be read from the next-token distribution, and the shared beginning of the
prompt (the context) stays in llama.cpp's KV cache from one statement to the next.
So the variable part always comes last.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from rag.llm import Message

SYSTEM = "You are a careful fact-checker. Follow the instructions exactly."


class Statements(BaseModel):
    statements: list[str] = Field(max_length=8)


class GeneratedQuestions(BaseModel):
    questions: list[str] = Field(min_length=1, max_length=3)
    noncommittal: bool


def _chat(user: str) -> list[Message]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def statements(question: str, answer: str) -> list[Message]:
    return _chat(
        "Break the answer into short standalone statements of fact. Each statement is a "
        "full sentence that can be understood without the question: replace pronouns "
        "with what they refer to. Keep the answer's language. Add nothing that the "
        "answer does not say: no labels, no keywords.\n\n"
        "Example\nQuestion: Who wrote Germinal and when?\n"
        "Answer: Émile Zola wrote it. It was published in 1885.\n"
        '{"statements": ["Émile Zola wrote Germinal.", "Germinal was published in 1885."]}\n\n'
        f"Question: {question}\nAnswer: {answer}"
    )


def supported(context: str, statement: str) -> list[Message]:
    """Faithfulness and context recall: is a statement backed by the context?"""
    return _chat(
        f"Context:\n{context}\n\n"
        "Can the statement below be directly inferred from the context above? "
        "Answer yes or no.\n\n"
        f"Statement: {statement}"
    )


def useful(question: str, reference: str, passage: str) -> list[Message]:
    """Context precision: did this passage help arrive at the reference answer?"""
    return _chat(
        f"Question: {question}\nReference answer: {reference}\n\n"
        "Is the passage below useful to arrive at the reference answer to the question? "
        "Answer yes or no.\n\n"
        f"Passage:\n{passage}"
    )


def questions_for(answer: str) -> list[Message]:
    """Answer relevancy: the questions this answer answers, and is it noncommittal?"""
    return _chat(
        "Write up to 3 questions that the answer below answers, in the answer's "
        "language. Set noncommittal to true if the answer is evasive, vague or says it "
        "does not know. Reply in JSON: "
        '{"questions": ["..."], "noncommittal": false}\n\n'
        f"Answer: {answer}"
    )
