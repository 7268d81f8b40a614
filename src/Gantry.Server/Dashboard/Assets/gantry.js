// Gantry dashboard: the theme switch and live updates over Server-Sent Events. No framework: the
// server renders every part of a page; this script only merges what the stream sends into the DOM
// (see src/Gantry.Server/Dashboard/Live/DashboardLive.cs for the events).
(function () {
  'use strict';

  var root = document.documentElement;
  var saved = null;
  try { saved = localStorage.getItem('gantry-theme'); } catch (e) { /* storage may be off */ }
  root.setAttribute('data-theme', saved || (window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'));

  document.addEventListener('DOMContentLoaded', function () {
    var toggle = document.getElementById('theme-toggle');
    if (toggle) {
      toggle.addEventListener('click', function () {
        var next = root.getAttribute('data-theme') === 'dark' ? 'light' : 'dark';
        root.setAttribute('data-theme', next);
        try { localStorage.setItem('gantry-theme', next); } catch (e) { /* not remembered then */ }
      });
    }

    var url = document.body.getAttribute('data-live-url');
    if (url) {
      connect(url);
    }
  });

  function connect(url) {
    var logs = document.getElementById('job-logs');
    if (logs) {
      // Go on from the output the page already has.
      url += '&after=' + encodeURIComponent(logs.getAttribute('data-after') || '0');
    }

    root.setAttribute('data-live', 'connecting');
    var source = new EventSource(url);
    source.onopen = function () { root.setAttribute('data-live', 'open'); };
    source.addEventListener('update', function (e) { apply(JSON.parse(e.data)); });
    source.addEventListener('log', function (e) { appendLog(JSON.parse(e.data)); });
    source.onerror = function () {
      if (source.readyState !== EventSource.CLOSED) {
        root.setAttribute('data-live', 'connecting');
        return;
      }

      // The stream refused us: the session may have ended (then the page itself redirects to the
      // login), or the server is away (then try again).
      root.setAttribute('data-live', 'closed');
      setTimeout(function () {
        fetch(location.href, { redirect: 'manual', credentials: 'same-origin' }).then(function (response) {
          if (response.type === 'opaqueredirect' || response.status === 401) {
            location.reload();
          } else {
            connect(url.replace(/&after=[^&]*$/, ''));
          }
        }, function () {
          connect(url.replace(/&after=[^&]*$/, ''));
        });
      }, 3000);
    };
  }

  function apply(update) {
    var regions = update.regions || {};
    Object.keys(regions).forEach(function (name) {
      var element = document.querySelector('[data-region="' + name + '"]');
      if (element) {
        var fresh = element.cloneNode(false);
        fresh.innerHTML = regions[name];
        morphChildren(element, fresh);
      }
    });

    var lists = update.lists || {};
    Object.keys(lists).forEach(function (name) { applyList(name, lists[name]); });
  }

  // Keyed rows: changed rows are merged in place, new ones added, and the order (when sent) applied.
  function applyList(name, list) {
    var body = document.querySelector('[data-list="' + name + '"]');
    if (!body) {
      return;
    }

    var byKey = {};
    Array.prototype.forEach.call(body.children, function (row) { byKey[row.getAttribute('data-key')] = row; });
    // Parse every changed row at once, then swap each in: whole rows are cheaper to replace than to
    // compare. The row holding the focus or under the pointer is merged instead, so the focus stays
    // and a click in progress (mouse down on a link, mouse up after an update) still lands.
    var items = list.items || {};
    var keys = Object.keys(items);
    if (keys.length > 0) {
      var template = document.createElement('template');
      template.innerHTML = keys.map(function (key) { return items[key]; }).join('');
      var active = document.activeElement;
      Array.prototype.slice.call(template.content.children).forEach(function (row) {
        var key = row.getAttribute('data-key');
        var current = byKey[key];
        if (!current) {
          byKey[key] = row;
          body.appendChild(row);
        } else if ((active && current.contains(active)) || current.matches(':hover')) {
          morph(current, row);
        } else {
          body.replaceChild(row, current);
          byKey[key] = row;
        }
      });
    }

    if (list.order) {
      var wanted = {};
      list.order.forEach(function (key, index) {
        wanted[key] = true;
        var row = byKey[key];
        if (row && body.children[index] !== row) {
          body.insertBefore(row, body.children[index] || null);
        }
      });
      Array.prototype.slice.call(body.children).forEach(function (row) {
        if (!wanted[row.getAttribute('data-key')]) {
          body.removeChild(row);
        }
      });
    }

    var empty = document.querySelector('[data-empty-for="' + name + '"]');
    if (empty) {
      empty.hidden = body.children.length > 0;
    }
  }

  // Makes `current` look like `next` while keeping the elements that stay (and so focus and state).
  function morph(current, next) {
    if (current.nodeType !== next.nodeType || current.nodeName !== next.nodeName) {
      current.parentNode.replaceChild(next, current);
      return;
    }

    if (current.nodeType !== 1) {
      if (current.nodeValue !== next.nodeValue) {
        current.nodeValue = next.nodeValue;
      }
      return;
    }

    var i;
    for (i = current.attributes.length - 1; i >= 0; i--) {
      var name = current.attributes[i].name;
      if (!next.hasAttribute(name)) {
        current.removeAttribute(name);
      }
    }
    for (i = 0; i < next.attributes.length; i++) {
      var attribute = next.attributes[i];
      if (current.getAttribute(attribute.name) !== attribute.value) {
        current.setAttribute(attribute.name, attribute.value);
      }
    }

    morphChildren(current, next);
  }

  function morphChildren(current, next) {
    var incoming = Array.prototype.slice.call(next.childNodes);
    for (var i = 0; i < incoming.length; i++) {
      if (i < current.childNodes.length) {
        morph(current.childNodes[i], incoming[i]);
      } else {
        current.appendChild(incoming[i]);
      }
    }
    while (current.childNodes.length > incoming.length) {
      current.removeChild(current.lastChild);
    }
  }

  function appendLog(chunk) {
    var pre = document.getElementById('job-logs');
    if (!pre) {
      return;
    }

    var atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.appendChild(document.createTextNode(chunk.text));
    pre.setAttribute('data-after', String(chunk.seq));
    if (atEnd) {
      pre.scrollTop = pre.scrollHeight;
    }
  }
})();
