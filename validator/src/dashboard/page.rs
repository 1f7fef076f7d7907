//! The dashboard's routes on the validator's HTTP server: the page (`GET /`), its data
//! (`GET /dashboard.json`) and chart (`GET /loss.svg`). Read-only, under the server's bounds.

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use super::board::Board;
use super::plot;

/// The page: static HTML that polls `/dashboard.json` and `/loss.svg`.
const PAGE: &str = include_str!("page.html");

/// The routes, over `board`.
pub(crate) fn routes(board: Board) -> Router {
    let (json, chart) = (board.clone(), board);
    Router::new()
        .route(
            "/",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")],
                    PAGE,
                )
            }),
        )
        .route(
            "/dashboard.json",
            get(move || {
                let board = json.clone();
                async move { ([(header::CACHE_CONTROL, "no-store")], Json(board.snapshot())) }
            }),
        )
        .route(
            "/loss.svg",
            get(move || {
                let board = chart.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "no-store")],
                        plot::svg(&board.history()),
                    )
                        .into_response()
                }
            }),
        )
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
}
