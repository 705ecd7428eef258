"""Serve the chat: python app.py (HOST/PORT from the environment, default 127.0.0.1:7860)."""

import logging
import os
import signal

import uvicorn

from retrieval.web import create_app, warm_up


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    host, port = os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "7860"))
    app = create_app()
    warm_up(app)
    # `kill -HUP <pid>` makes a running app load the newest index now (it also notices on its own).
    signal.signal(signal.SIGHUP, lambda *_: app.state.service.reload())
    print(f"Serving the chat on http://{host}:{port}  (Ctrl+C to stop)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)


if __name__ == "__main__":
    main()
