"""The seed's Flask route, rewritten against the gateway: no Convex deploy key in the Flask app,
each request carries its caller's own token, and the gateway's problem answers pass through.

    GATEWAY_URL=http://127.0.0.1:8080 flask --app flask_app run
"""

from __future__ import annotations

import os

from flask import Flask, jsonify, request

from convex_gateway_client import AuthenticatedClient
from convex_gateway_client.api.tables import list_documents
from convex_gateway_client.models import ListDocumentsFilters, Problem
from convex_gateway_client.types import UNSET


def create_app(gateway_url: str) -> Flask:
    app = Flask(__name__)

    def caller() -> AuthenticatedClient | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        return AuthenticatedClient(base_url=gateway_url, token=header.removeprefix("Bearer "))

    @app.route("/api/molecules")
    def get_molecules():
        client = caller()
        if client is None:
            return jsonify({"code": "missing_token", "detail": "send your bearer token"}), 401
        filters = {key: value for key, value in request.args.items() if key not in ("limit",)}
        page = list_documents.sync_detailed(
            "molecules",
            client=client,
            limit=int(request.args.get("limit", 10)),
            filters=ListDocumentsFilters.from_dict(filters) if filters else UNSET,
        )
        if isinstance(page.parsed, Problem):
            return jsonify(page.parsed.to_dict()), page.status_code
        return jsonify([item.to_dict() for item in page.parsed.items])

    return app


if __name__ == "__main__":
    create_app(os.environ.get("GATEWAY_URL", "http://127.0.0.1:8080")).run()
