//! A browser for the HTTP tests: it keeps cookies between requests to the real app, reads
//! forms' hidden fields, logs in, and uploads files as the pages' forms do.

use std::collections::HashMap;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::test;
use quorum::store::{NewUser, Role, Store};

/// A browser: remembers cookies between requests.
pub struct Browser<S> {
    pub app: S,
    pub cookies: HashMap<String, String>,
}

pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub cache_control: Option<String>,
    pub body: String,
}

impl Page {
    pub fn csrf(&self) -> String {
        let start = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a form with a CSRF token")
            + 19;
        self.body[start..start + self.body[start..].find('"').unwrap()].to_owned()
    }

    pub fn lease_id(&self) -> String {
        let start = self
            .body
            .find("name=\"lease_id\" value=\"")
            .expect("a lease")
            + 23;
        self.body[start..start + self.body[start..].find('"').unwrap()].to_owned()
    }
}

impl<S> Browser<S>
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    pub async fn send(&mut self, req: test::TestRequest) -> Page {
        let mut req = req;
        if !self.cookies.is_empty() {
            let header: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req = req.insert_header(("Cookie", header.join("; ")));
        }
        let resp = test::call_service(&self.app, req.to_request()).await;
        for c in resp.response().cookies() {
            if c.value().is_empty() {
                self.cookies.remove(c.name());
            } else {
                self.cookies
                    .insert(c.name().to_owned(), c.value().to_owned());
            }
        }
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let cache_control = resp
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = String::from_utf8(test::read_body(resp).await.to_vec()).expect("utf-8");
        Page {
            status,
            location,
            cache_control,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        self.send(test::TestRequest::get().uri(path)).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        self.send(test::TestRequest::post().uri(path).set_form(form))
            .await
    }

    /// Posts a multipart form with a CSRF token and one file, as the upload form does.
    pub async fn upload(
        &mut self,
        path: &str,
        csrf: &str,
        file_name: &str,
        content: &[u8],
    ) -> Page {
        let boundary = "----quorum-test-boundary";
        let mut body = Vec::new();
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: text/csv\r\n\r\n"
        )
        .as_bytes(),
    );
        body.extend_from_slice(content);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        self.send(
            test::TestRequest::post()
                .uri(path)
                .insert_header((
                    "Content-Type",
                    format!("multipart/form-data; boundary={boundary}"),
                ))
                .set_payload(body),
        )
        .await
    }

    pub async fn login(&mut self, email: &str, password: &str) -> Page {
        let csrf = self.get("/login").await.csrf();
        self.post(
            "/login",
            &[("email", email), ("password", password), ("csrf", &csrf)],
        )
        .await
    }
}

/// A browser with no cookies yet, on `app`.
pub fn new<S>(app: S) -> Browser<S> {
    Browser {
        app,
        cookies: HashMap::new(),
    }
}

/// A login user with the password `password1`; its id.
pub async fn user(store: &Store, email: &str, role: Role) -> i64 {
    let hash = quorum::auth::hash_password("password1").unwrap();
    store
        .create_user(&NewUser {
            email: email.into(),
            role,
            password_hash: hash,
        })
        .await
        .unwrap()
        .id
}
