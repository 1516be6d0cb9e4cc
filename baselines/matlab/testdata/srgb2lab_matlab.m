function lab = srgb2lab_matlab(rgb)
% SRGB2LAB_MATLAB  L*a*b* doubles of n x 3 sRGB doubles in [0, 1], as MATLAB's
% applycform(rgb, makecform('srgb2lab')) computes them with makecform's defaults. Used by gen_lab.m
% and baselines/higrade/testdata/gen_higrade.m; gen_lab.m's header says where each step comes from.
  f = @(v) (v <= 0.04045) .* (v / 12.92) + (v > 0.04045) .* (((v + 0.055) / 1.055) .^ 2.4);
  curve = round(65535 * f((0:1023)' / 1023)) / 65535;
  lin = interp1(linspace(0, 1, 1024)', curve, min(max(rgb, 0), 1), 'spline');
  lin = reshape(min(max(lin, 0), 1), size(rgb));
  mat = [hex2dec('6FA2') hex2dec('38F5') hex2dec('0390');
         hex2dec('6299') hex2dec('B785') hex2dec('18DA');
         hex2dec('24A0') hex2dec('0F84') hex2dec('B6CF')] / 65536;
  icc = [31595 32768 27030] / 32768;
  d50 = [0.9642 1 0.8251];
  chad = [0.8951 0.2664 -0.1614; -0.7502 1.7135 0.0367; 0.0389 -0.0685 1.0296];
  adapter = chad \ diag((icc * chad') ./ (d50 * chad')) * chad;
  xyz = (lin * mat) * adapter';
  t = xyz ./ icc;
  ft = t .^ (1/3);
  low = t <= 216 / 24389;
  ft(low) = 841 / 108 * t(low) + 16 / 116;
  lab = [116 * ft(:,2) - 16, 500 * (ft(:,1) - ft(:,2)), 200 * (ft(:,2) - ft(:,3))];
end
