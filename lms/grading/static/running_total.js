// The grading page with scripts on: the points of the levels chosen so far are added up as the
// grader picks them ("12 of 20 points, 3 of 4 criteria with a level"), in a line beside the
// rubric that screen readers announce politely. No script: the line stays hidden and the
// score is the one saved, shown under the form after a save (the server adds it up then).
(function () {
  "use strict";
  var line = document.querySelector("[data-running-total]");
  var form = line && line.closest("section") && line.closest("section").querySelector("form");
  if (!line || !form) { return; }
  var criteria = form.querySelectorAll("fieldset.criterion");
  var max = Number(line.getAttribute("data-max"));

  function shown(points) {  // as the site writes points ('%g'): 12, 12.5, never 12.0
    return String(Math.round(points * 1000) / 1000);
  }

  function update() {
    var points = 0, chosen = 0;
    criteria.forEach(function (criterion) {
      var level = criterion.querySelector("input[type=radio][data-points]:checked");
      if (level) {
        points += Number(level.getAttribute("data-points"));
        chosen += 1;
      }
    });
    line.textContent = "Levels chosen so far: " + shown(points) + " of " + shown(max) + " points, " + chosen + " of " +
      criteria.length + " criteria with a level.";
  }

  form.addEventListener("change", function (event) {
    if (event.target && event.target.matches("input[type=radio]")) { update(); }
  });
  update();
  line.hidden = false;
}());
