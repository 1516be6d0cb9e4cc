% gen_lab.m: reference L*a*b* for matlab.SRGB2Lab / SRGB2LabUint8, written to lab_ref.json.
% Run from this folder:  octave --no-gui --quiet gen_lab.m   (the chain itself is srgb2lab_matlab.m)
%
% Octave has no makecform/applycform, so this evaluates, with Octave's own interp1, mldivide and power,
% the chain MATLAB's makecform('srgb2lab') builds with its defaults (read from makecform.m,
% applymattrc_fwd.m, applycurve.m, applychad.m, xyz2lab.m and whitepoint.m of the Image Processing
% Toolbox; none of them is copied here):
%   applycurve: sRGB.icm's 1024-entry uint16 tone curve / 65535 at linspace(0,1,1024), interp1 'spline',
%               clipped to [0 1]; the curve is IEC 61966-2-1's function at i/1023 rounded to 16 bits
%               (the HP profile's bytes: its first 101 and last 37 entries checked, all equal);
%   applymattrc_fwd: rgb * [RedColorant; GreenColorant; BlueColorant] (s15Fixed16 / 65536);
%   make_adapt_cform: Bradford, whitepoint('d50') = [0.9642 1 0.8251] -> whitepoint('icc');
%   xyz2lab: relative to whitepoint('icc') = [31595 32768 27030]/32768;
%   applycform on uint8 input: im2double in, lab2uint8 out.
pkg load image
1;
function s = jnum(v)
  s = strjoin(arrayfun(@(x) sprintf('%.17g', x), v(:).', 'UniformOutput', false), ',');
end

f = @(v) (v <= 0.04045) .* (v / 12.92) + (v > 0.04045) .* (((v + 0.055) / 1.055) .^ 2.4);
curve = round(65535 * f((0:1023)' / 1023)) / 65535;
trc = min(max(interp1(linspace(0, 1, 1024)', curve, (0:255)' / 255, 'spline'), 0), 1);

rand('state', 20261203);
grey = repmat((0:255)', 1, 3);
corners = [0 0 0; 255 0 0; 0 255 0; 0 0 255; 255 255 0; 255 0 255; 0 255 255; 255 255 255; 1 2 3; 254 1 128];
rgb = [grey; corners; floor(rand(2000, 3) * 256)];

lab = srgb2lab_matlab(rgb / 255);   % the chain, in srgb2lab_matlab.m
lab8 = lab2uint8(reshape(lab, [], 1, 3));
lab8 = reshape(double(lab8), [], 3);

fid = fopen('lab_ref.json', 'w');
fprintf(fid, '{\n "generator": "gen_lab.m, Octave %s + image %s",\n', version(), pkg('describe', 'image'){1}.version);
fprintf(fid, ' "trc": [%s],\n', jnum(trc));
fprintf(fid, ' "rgb": [%s],\n', jnum(rgb'));
fprintf(fid, ' "lab": [%s],\n', jnum(lab'));
fprintf(fid, ' "lab8": [%s]\n}\n', jnum(lab8'));
fclose(fid);
