"""Lists that run past a chunk's end: answer logic about documents' structure, kept out of storage."""
from __future__ import annotations

from dataclasses import replace

from assistant.storage import IndexVersion
from assistant.core.text import LIST_ITEM, ends_in_list_item
from assistant.core.types import Passage

MAX_CHUNKS = 5  # a list longer than five chunks (about 2,000 tokens) is no longer one answer


def with_next(version: IndexVersion, p: Passage, max_chunks: int = MAX_CHUNKS) -> Passage:
    """`p` extended by the chunks after it while a list goes on (at most `max_chunks` in all), as
    one passage cut from the cleaned document text: a list that runs past a chunk's end (the
    Städtetag's 11th Handlungsfeld) is answered whole."""
    doc = version.document_text(p.doc_id)
    if doc is None:
        return p
    merged, last = p, p
    for _ in range(max_chunks - 1):
        nxt = [n for n in version.neighbours(last) if n.ordinal == last.ordinal + 1]
        if not nxt or not LIST_ITEM.match(nxt[0].text):
            break
        n = nxt[0]
        shift = n.char_start - merged.char_start
        breaks = list(merged.page_breaks)
        for off, page in n.page_breaks:
            if off + shift >= len(merged.text) and (not breaks or breaks[-1][1] != page):
                breaks.append((off + shift, page))
        merged = replace(merged, chunk_id=f"{merged.chunk_id}+{n.chunk_id}",
                         text=doc[merged.char_start:n.char_end], char_end=n.char_end,
                         page_end=n.page_end or merged.page_end, page_breaks=tuple(breaks))
        last = n
        if not ends_in_list_item(n.text):
            break  # the list ends inside this chunk
    return merged
