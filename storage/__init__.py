"""The storage boundary: every module that knows which database it talks to lives here.

Checkpoints (LangGraph's saver with compressed values and cached conversation reads), the
thread index and its pruning, per-thread locks, client message IDs and their turn results,
and the CRM database (connection pool, migrations, transactions) are opened through this
package; the rest of the project reads and writes the CRM through the connections it hands
out and never imports a database driver (docs/architecture.md, "Persistence").
"""
