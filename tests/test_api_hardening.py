"""Attacks on the service through its real app, each as an outsider would make it: junk
methods against the metrics, cross-site and rebinding requests without keys, deep JSON,
awkward product ids, refused uploads, a failing job store, a second service on the same
state, and what a client may learn of the server's paths."""

import json

import pytest

from shoptag.demo import media_path

from helpers.api import make_index, running_app, service_settings

PHOTO = media_path("astronaut.jpg").read_bytes()


@pytest.fixture
def index(tmp_path, effnet):
    return make_index(tmp_path, effnet)


def product_images(client):
    return sorted(p.name for p in client.app.state.service.folder.product_photos.iterdir())


def test_junk_methods_share_one_metrics_label(index, effnet):
    with running_app(service_settings(index), effnet) as client:
        for number in range(300):
            client.request(f"JUNK{number}", "/livez")
        text = client.get("/metrics").text
    assert "JUNK" not in text
    assert 'shoptag_http_requests_total{method="other",route="/livez",status="405"} 300.0' in text
    assert len(text) < 20_000


def test_without_keys_cross_site_and_rebound_requests_are_refused(index, effnet):
    with running_app(service_settings(index), effnet) as client:
        before = client.get("/readyz").json()["index_version"]
        form = {"product_id": "planted", "title": "Planted by a web page"}
        photo = {"images": ("p.jpg", PHOTO)}
        for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"}, {"Origin": "http://127.0.0.1.evil.com"},
                        {"Host": "evil.example"}, {"Host": "rebound.example:8000", "Origin": "http://rebound.example:8000"},
                        {"Host": "evil.example@127.0.0.1"}, {"Host": "127.0.0.1#x"}):
            response = client.post("/v1/products", data=form, files=photo, headers=headers)
            assert response.status_code == 403, (headers, response.text)
            assert response.json()["error"]["code"] == "forbidden"
        assert client.get("/v1/products/planted").status_code == 404
        assert client.get("/readyz").json()["index_version"] == before
        # The page the service may serve itself, and local tools, are same-origin.
        same_site = client.post("/v1/products", data=form, files=photo, headers={"Origin": "http://127.0.0.1:8000"})
        assert same_site.status_code == 201
        assert client.get("/livez", headers={"Host": "localhost:8000"}).status_code == 200
        assert client.get("/livez", headers={"Host": "[::1]:8000"}).status_code == 200
        two_origins = client.post("/v1/products", data=form, files=photo,
                                  headers=[("Origin", "https://evil.example"), ("Origin", "http://127.0.0.1")])
        assert two_origins.status_code == 403


@pytest.mark.parametrize("depth", [17, 300, 900, 50_000])
def test_deeply_nested_metadata_is_refused_and_nothing_is_stored(index, effnet, depth):
    with running_app(service_settings(index), effnet) as client:
        deep = '{"a": ' * depth + "1" + "}" * depth
        response = client.post("/v1/products", data={"product_id": "deep", "title": "Deep", "metadata": deep},
                               files={"images": ("p.jpg", PHOTO)})
        assert response.status_code == 422, response.text
        message = response.json()["error"]["message"]
        assert "nested more than 16 levels" in message or "at most 100000 characters" in message
        assert client.get("/v1/products/deep").status_code == 404
        assert product_images(client) == []
        ok = client.post("/v1/products", data={"product_id": "ok", "title": "Ok",
                                               "metadata": '{"a": ' * 15 + "1" + "}" * 15},
                         files={"images": ("p.jpg", PHOTO)})
        assert ok.status_code == 201 and client.get("/v1/products/ok").status_code == 200


def test_metadata_at_the_depth_limit_is_kept_and_the_index_still_loads(index, effnet):
    deepest = '{"a": ' * 16 + "1" + "}" * 16
    with running_app(service_settings(index), effnet) as client:
        added = client.post("/v1/products", data={"product_id": "deepest", "title": "Deepest", "metadata": deepest},
                            files={"images": ("p.jpg", PHOTO)})
        assert added.status_code == 201, added.text
    with running_app(service_settings(index), effnet) as client:  # a restart loads the version written
        assert client.get("/v1/products/deepest").json()["product"]["metadata"] == json.loads(deepest)


@pytest.mark.parametrize("metadata, message", [('{"a": "\\ud800"}', "lone surrogate"), ('{"a": NaN}', "NaN")])
def test_metadata_json_cannot_carry_is_refused(index, effnet, metadata, message):
    with running_app(service_settings(index), effnet) as client:
        response = client.post("/v1/products", data={"product_id": "s", "title": "S", "metadata": metadata},
                               files={"images": ("p.jpg", PHOTO)})
        assert response.status_code == 422 and message in response.json()["error"]["message"]


@pytest.mark.parametrize("ref", ["coffee.jpg\x00x", "http://example.com:99999/x.jpg", "http://example.com:-1/x.jpg",
                                 "http://example.com:abc/x.jpg", "http://[::1/x", "http://" + "a" * 70 + ".com/x.jpg",
                                 "http://" + "." * 300 + "/x.jpg"])
def test_malformed_image_refs_are_422(index, effnet, tmp_path, ref):
    (tmp_path / "photos").mkdir()
    with running_app(service_settings(index, image_root=tmp_path / "photos"), effnet) as client:
        response = client.post("/v1/products", data={"product_id": "p", "title": "P", "image_refs": ref})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "bad_image"


def test_a_product_form_cut_off_before_its_closing_boundary_is_refused(index, effnet):
    body = (b'--XyZ\r\nContent-Disposition: form-data; name="product_id"\r\n\r\ntrunc\r\n'
            b'--XyZ\r\nContent-Disposition: form-data; name="title"\r\n\r\nTrunc\r\n'
            b'--XyZ\r\nContent-Disposition: form-data; name="images"; filename="p.jpg"\r\n\r\n' + PHOTO[:5000])
    with running_app(service_settings(index), effnet) as client:
        response = client.post("/v1/products", content=body,
                               headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
        assert response.status_code == 422 and "closing boundary" in response.json()["error"]["message"]
        assert client.get("/v1/products/trunc").status_code == 404
        assert product_images(client) == [] and list(client.app.state.service.folder.uploads.iterdir()) == []


def test_photos_of_replaced_and_deleted_products_go_once_no_kept_version_lists_them(index, effnet):
    with running_app(service_settings(index), effnet) as client:
        for number in range(5):  # each replacement with another photo: 3 versions are kept
            client.post("/v1/products", data={"product_id": "churn", "title": "Churn"},
                        files={"images": ("p.jpg", PHOTO + bytes([number]))})
        assert len(product_images(client)) == 3
        client.delete("/v1/products/churn")
        client.delete("/v1/products/cat-print")
        client.delete("/v1/products/rocket-poster")
        assert product_images(client) == []


def test_405_names_the_allowed_methods_and_health_answers_head(index, effnet):
    with running_app(service_settings(index), effnet) as client:
        assert client.put("/v1/tags").headers["Allow"] == "POST"
        assert client.request("PATCH", "/v1/products/x").headers["Allow"] == "DELETE, GET, PUT"
        assert client.head("/livez").status_code == 200 and client.head("/readyz").status_code == 200


def test_a_video_error_names_the_clients_file_not_the_servers(index, effnet):
    with running_app(service_settings(index), effnet) as client:
        response = client.post("/v1/tags", files={"file": ("holiday.mp4", b"\x00\x00\x00\x18ftypisom" + bytes(300))})
        assert response.status_code == 422 and "'holiday.mp4'" in response.json()["error"]["message"]



def test_ranges_with_numbers_too_long_for_int_are_answered_not_500(index, effnet):
    huge = "9" * 5000  # int() refuses over 4,300 digits; HTTP puts no bound on them
    with running_app(service_settings(index), effnet) as client:  # no keys: the page is anyone's
        for url in ("/", "/static/review.js"):
            whole = client.get(url).content
            for header, status, body in ((f"bytes={huge}-", 416, None), (f"bytes={huge}-{huge}", 416, None),
                                         (f"bytes=0-{huge}", 206, whole), (f"bytes=-{huge}", 206, whole),
                                         (f"bytes=2-{'0' * 5000}9", 206, whole[2:10]),
                                         (f"bytes=1-{huge}, 3-{huge}", 206, whole[1:]), (f"bytes={huge}-0", 400, None)):
                answer = client.get(url, headers={"Range": header})
                assert answer.status_code == status, (url, header[:20], answer.text[:200])
                if body is None:
                    assert answer.json()["error"]["message"]
                else:
                    assert answer.content == body
            assert client.get(url, headers={"Range": f"bytes={huge}-"}).headers["Content-Range"] == \
                f"bytes */{len(whole)}"
