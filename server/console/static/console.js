// LoftBox console: small progressive enhancements. Everything works without this file.
/* global document, window, EventSource */
(function () {
  'use strict';

  /** Shows each <time datetime> in the viewer's own time zone. */
  function localTimes(root) {
    root.querySelectorAll('time[datetime]').forEach(function (el) {
      var date = new Date(el.getAttribute('datetime'));
      if (isNaN(date.getTime())) return;
      el.textContent = date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
      el.title = el.getAttribute('datetime');
    });
  }

  /** Appends events from the console's event stream to the live list, newest first. */
  function liveEvents() {
    var list = document.getElementById('live-events');
    if (!list || !window.EventSource) return;
    var source = new EventSource(list.getAttribute('data-stream'));
    var empty = document.getElementById('live-events-empty');
    source.addEventListener('lb', function (message) {
      var event = JSON.parse(message.data);
      var item = document.createElement('li');
      var time = document.createElement('time');
      time.setAttribute('datetime', event.created_at);
      time.textContent = event.created_at;
      var type = document.createElement('span');
      type.className = 'event-type';
      type.textContent = event.type;
      item.appendChild(time);
      item.appendChild(document.createTextNode(' '));
      item.appendChild(type);
      if (event.subject !== null) {
        item.appendChild(document.createTextNode(' '));
        if (event.message_id) {
          var link = document.createElement('a');
          link.href = '/console/messages/' + encodeURIComponent(event.message_id);
          link.textContent = event.subject || '(no subject)';
          item.appendChild(link);
        } else {
          item.appendChild(document.createTextNode(event.subject));
        }
      }
      if (event.request_id) {
        var requestId = document.createElement('code');
        requestId.className = 'request-id';
        requestId.textContent = event.request_id;
        item.appendChild(document.createTextNode(' '));
        item.appendChild(requestId);
      }
      localTimes(item);
      list.insertBefore(item, list.firstChild);
      if (empty) empty.hidden = true;
      while (list.children.length > 50) list.removeChild(list.lastChild);
    });
  }

  /** "Select all" for bulk approval forms. */
  function selectAll() {
    document.querySelectorAll('input[data-select-all]').forEach(function (box) {
      if (box.dataset.bound) return;
      box.dataset.bound = '1';
      box.addEventListener('change', function () {
        var form = box.form;
        if (!form) return;
        form.querySelectorAll('input[name="ids"]').forEach(function (item) {
          item.checked = box.checked;
        });
      });
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    localTimes(document);
    liveEvents();
    selectAll();
  });
  document.addEventListener('htmx:afterSwap', function (e) {
    localTimes(e.target);
    selectAll();
  });
})();
