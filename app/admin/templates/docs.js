// Starts Swagger UI on the admin API's schema. "Try it out" sends the staff session's cookie;
// a request that changes something also needs the session's CSRF token, which the page carries
// (as every admin form does), unless a bearer token was given with "Authorize".
"use strict";
window.addEventListener("load", function () {
  var page = document.body.dataset;
  window.ui = SwaggerUIBundle({
    url: page.openapi,
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: false,
    requestInterceptor: function (request) {
      var headers = request.headers || {};
      if (page.csrfToken && !headers.Authorization) {
        headers[page.csrfHeader] = page.csrfToken;
      }
      request.headers = headers;
      return request;
    },
  });
});
